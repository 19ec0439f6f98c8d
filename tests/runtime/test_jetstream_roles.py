"""The FEP and the station as processes on JetStream (``--jetstream``), against a nats-server
with JetStream started here: readings flow end to end, the reports wait in the stream while
the station is killed, and a new station takes them up where the old one stopped."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.testing.processes import spawn, stop
from wattguard.testing.services import free_port, nats_server


@pytest.fixture
def jetstream(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")
    port = free_port()
    arguments = ["-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")]
    with nats_server(arguments, port) as url:
        yield url


def _readings(station: subprocess.Popen[str], at_least: int, seconds: float) -> int:
    assert station.stdout is not None
    deadline, readings = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and readings < at_least:
        match = re.search(r"station: ([\d,]+) readings from", station.stdout.readline())
        if match:
            readings = int(match.group(1).replace(",", ""))
    return readings


def test_fep_and_station_on_jetstream_survive_a_killed_station(
    jetstream: str, tmp_path: Path
) -> None:
    from wattguard.station.storage import open_storage

    port = free_port()
    database = f"sqlite:///{tmp_path / 'station.db'}"
    station_args = ("station", "--bus", jetstream, "--jetstream", "--database", database,
                    "--no-api", "--clock-tolerance", "inf")  # fmt: skip
    station = spawn(*station_args)
    fep = spawn("fep", "--bus", jetstream, "--jetstream", "--listen", f"127.0.0.1:{port}")
    processes = [station, fep]
    try:
        assert station.stdout is not None and fep.stdout is not None
        assert "JetStream" in station.stdout.readline()
        assert "JetStream" in fep.stdout.readline()
        terminal = spawn("terminal", "--address", "990000000042", "--fep", f"127.0.0.1:{port}",
                          "--meters", "5", "--speed", "900")  # fmt: skip
        processes.append(terminal)
        assert _readings(station, 30, 40) >= 30
        station.kill()  # SIGKILL: whatever it had fetched and not acknowledged is redelivered
        station.wait()
        if station.stdout is not None:
            station.stdout.close()
        successor = spawn(*station_args)
        processes.append(successor)
        assert successor.stdout is not None and "JetStream" in successor.stdout.readline()
        assert _readings(successor, 30, 60) >= 30, "the new station collects from the stream"
    finally:
        stop(processes)
    storage = open_storage(database)
    try:
        meters = storage.meters()
        assert len(meters) >= 5, meters
    finally:
        storage.close()
