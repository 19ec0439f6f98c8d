"""The station as separate processes (``station --role ingest|api``) on JetStream and
PostgreSQL: two ingest workers share the terminals' reports, one is SIGKILLed mid-run and the
other takes its unacknowledged share; one api process leads while a second waits as a
standby and takes over when the first dies; at the end the stream holds nothing unacknowledged
and every reading is in the database once."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import pytest

from wattguard.testing.processes import spawn, stop
from wattguard.testing.services import POSTGRES_URL, free_port


@pytest.fixture
def database(pg_schema: str) -> str:
    return f"{POSTGRES_URL}?schema={pg_schema}"


def _line(process: subprocess.Popen[str], pattern: str, seconds: float = 30.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if re.search(pattern, line):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line matching {pattern!r} in time")


def _count(database: str) -> tuple[int, int]:
    import psycopg

    schema = database.rpartition("schema=")[2]
    with psycopg.connect(POSTGRES_URL) as connection:
        row = connection.execute(
            f'SELECT count(*), count(DISTINCT (meter, quantity, time)) FROM "{schema}".readings'
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _rows(database: str) -> int:
    from wattguard.station.storage import open_storage

    storage = open_storage(database)
    try:
        return storage.count_readings()
    finally:
        storage.close()


def _until_rows(database: str, at_least: int, seconds: float) -> int:
    deadline, rows = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        rows = _rows(database)
        if rows >= at_least:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"{rows} readings stored, not {at_least}, in {seconds} s")


async def _unacknowledged(url: str) -> tuple[int, int]:
    import nats

    connection = await nats.connect(url)
    try:
        info = await connection.jetstream().consumer_info("WATTGUARD_UP", "station-up__")
        return info.num_pending, info.num_ack_pending
    finally:
        await connection.close()


def test_two_ingest_workers_one_killed_and_a_standby_leader(
    jetstream_server: str, database: str
) -> None:
    common = ("station", "--bus", jetstream_server, "--jetstream", "--database", database,
              "--clock-tolerance", "inf")  # fmt: skip
    leader = spawn(*common, "--role", "api", "--api-port", "0")
    processes = [leader]
    try:
        _line(leader, r"station \(api\): collecting")
        standby = spawn(*common, "--role", "api", "--api-port", "0")
        processes.append(standby)
        _line(standby, "standby")
        workers = [spawn(*common, "--role", "ingest") for _ in range(2)]
        processes += workers
        for worker in workers:
            _line(worker, r"station \(ingest\): collecting")
        port = free_port()
        fep = spawn("fep", "--bus", jetstream_server, "--jetstream", "--listen",
                    f"127.0.0.1:{port}")  # fmt: skip
        processes.append(fep)
        _line(fep, "listening")
        fep_address = f"127.0.0.1:{port}"
        terminals = [
            spawn("terminal", "--address", f"99000000004{i}", "--fep", fep_address,
                  "--meters", "4", "--speed", "900", "--seed", str(i))
            for i in range(2)
        ]  # fmt: skip
        processes += terminals
        before = _until_rows(database, 60, 90)
        workers[0].kill()  # SIGKILL mid-run: what it fetched and did not acknowledge returns
        workers[0].wait()
        _until_rows(database, before + 60, 90)  # the survivor goes on alone
        leader.kill()
        leader.wait()
        _line(standby, r"station \(api\): collecting", 30)  # the standby leads now
        stop(terminals)
        time.sleep(2.0)
        deadline = time.monotonic() + 60  # ack_wait (30 s) brings back the killed one's share
        while asyncio.run(_unacknowledged(jetstream_server)) != (0, 0):
            assert time.monotonic() < deadline, "messages left unacknowledged in the stream"
            time.sleep(1.0)
        rows, distinct = _count(database)
    finally:
        stop(processes)
    assert rows == distinct >= before + 60
