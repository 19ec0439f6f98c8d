"""`wattguard meter --waveform`: the dlt698 client (an independent DL/T 698.45 implementation)
reads THD, per-order harmonic content and harmonic energy from the running command, at the
element positions its own catalogue computes (``harmonic_oad``), and its catalogue accepts
each value's shape (``validate_value``)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import Any

from wattguard.testing.services import require

try:
    import dlt698
    from dlt698 import _native as native
    from dlt698 import standard
except ImportError:  # pragma: no cover
    dlt698 = None

ADDRESS = "000000000043"


def _client(port: int) -> Any:
    options = native.ClientOptions(
        protocol=native.SessionOptions(
            server=native.ServerAddress(
                bytes=bytes.fromhex(ADDRESS)[::-1], logical=0, type=native.AddressType.single
            ),
            request_timeout=5.0,
        ),
        transport_timeout=5.0,
    )
    client = dlt698.Client(options)
    client.connect_tcp("127.0.0.1", port, native.ConnectionProfile.local_public)
    return client


def test_dlt698_reads_harmonics_from_the_meter_command_in_waveform_mode() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    process = subprocess.Popen(
        [sys.executable, "-m", "wattguard", "meter", "--address", ADDRESS, "--port", "0",
         "--unprotected", "--waveform", "--speed", "3600"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "waveform mode" in line, line
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line
        time.sleep(1.0)  # an hour of simulated load
        layout = standard.DeviceLayout(harmonic_order=41, wiring=standard.Wiring.single_phase)
        client = _client(int(match.group(1)))
        try:
            read = {}
            for name, oad in {
                "voltage thd": native.Oad(oi=0x200B, attribute=2, index=0),
                "current thd": native.Oad(oi=0x200C, attribute=2, index=0),
                "voltage content": native.Oad(oi=0x200D, attribute=2, index=0),
                "current content": native.Oad(oi=0x200E, attribute=2, index=0),
                "harmonic energy": native.Oad(oi=0x0210, attribute=2, index=0),
                "fundamental energy": native.Oad(oi=0x0110, attribute=2, index=0),
            }.items():
                result = client.get(oad)
                assert result.data is not None, (name, result.dar)
                if oad.oi in (0x200B, 0x200C, 0x200D, 0x200E):
                    standard.validate_value(oad, result.data, layout)
                read[name] = result.data
            fifth = client.get(standard.harmonic_oad(0x200D, standard.Phase.a, 5, layout))
            third = client.get(standard.harmonic_oad(0x200E, standard.Phase.a, 3, layout))
        finally:
            client.close()
        assert fifth.data is not None and third.data is not None
        # the supply of wattguard.simulation.waveform: 5th 3.00 %; the household: 3rd 25.00 %
        assert fifth.data.value == 300
        assert third.data.value == 2500
        thd = read["voltage thd"].value[0].value
        assert thd == 374  # sqrt(1 + 9 + 4) %
        assert read["voltage content"].value[0].value == thd
        assert len(read["current content"].value) == 41
        assert read["fundamental energy"].value[0].value > 0
        assert read["harmonic energy"].value[0].value >= 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
