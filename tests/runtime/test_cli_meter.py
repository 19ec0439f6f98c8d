"""`wattguard meter` serves a simulated meter over TCP that a 698 client reads."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

from wattguard.protocol import OAD, ServerAddress
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.connection import ClientConnection, Response


def _read(port: int, oad: OAD) -> GetResponseNormal:
    client = ClientConnection(ServerAddress.parse("000000000042"))
    client.send_request(GetRequestNormal(1, oad), 0.0)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(client.data_to_send())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            client.receive_data(sock.recv(4096), 0.0)
            event = client.next_event()
            if isinstance(event, Response):
                assert isinstance(event.response, GetResponseNormal)
                return event.response
    raise AssertionError("no answer")


def test_the_meter_command_serves_readings() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wattguard", "meter", "--address", "000000000042", "--port", "0",
         "--unprotected", "--speed", "7200"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line
        port = int(match.group(1))
        time.sleep(1.0)  # two simulated hours of load
        energy = _read(port, OAD(0x0010, 2, 0)).result.result
        assert energy.value[0].value > 0
        address = _read(port, OAD(0x4001, 2, 0)).result.result
        assert address.value == bytes.fromhex("000000000042")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_a_bad_address_is_refused_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "meter", "--address", "12ab", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--address takes 12 decimal digits" in result.stderr
