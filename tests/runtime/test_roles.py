"""`wattguard fep`, `station` and `terminal` as separate processes over TCP and NATS."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

from test_natsbus import URL, _reachable
from wattguard_testing import require


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wattguard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_three_processes_collect_readings() -> None:
    require(_reachable(URL), f"no NATS server at {URL} (set WATTGUARD_NATS_URL)")
    port = _free_port()
    # a private terminal address keeps parallel runs on the shared NATS server apart
    address = f"99{uuid.uuid4().int % 10**10:010d}"
    station = _spawn("station", "--bus", URL)
    fep = _spawn("fep", "--listen", f"127.0.0.1:{port}", "--bus", URL)
    processes = [station, fep]
    try:
        assert station.stdout is not None and fep.stdout is not None
        assert "collecting" in station.stdout.readline()
        assert "listening" in fep.stdout.readline()
        terminal = _spawn(
            "terminal", "--address", address, "--fep", f"127.0.0.1:{port}", "--meters", "5",
            "--speed", "900",
        )  # fmt: skip
        processes.append(terminal)
        deadline = time.monotonic() + 40
        readings = 0
        while time.monotonic() < deadline and readings < 50:
            line = station.stdout.readline()
            match = re.search(r"station: ([\d,]+) readings from (\d+) terminals", line)
            if match:
                readings = int(match.group(1).replace(",", ""))
        assert readings >= 50
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            if process.stdout is not None:
                process.stdout.close()


def test_bad_role_options_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "terminal", "--fep", "nowhere"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "expected HOST:PORT" in result.stderr
