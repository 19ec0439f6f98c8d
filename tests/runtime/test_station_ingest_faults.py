"""Separate station processes on JetStream and PostgreSQL whose database connections are cut
mid-run: one api leader and two ingest workers (``station --role ...``) take a recorded
terminal traffic while every connection of theirs is terminated three times
(``pg_terminate_backend``), the second time while a worker's insert is known to be in flight
(the test holds the readings table against writers until one waits on it). The workers
reconnect and retry the batches they had not acknowledged: the readings table ends with
exactly the readings a reference station stored from the same frames (count and checksum),
nothing lost and nothing twice; the workers commit many reports per transaction; the leader
keeps leading (it takes its lock again) and hears every reading the workers stored from the
database, each once."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import threading
import time

import pytest

from wattguard.testing.processes import spawn, stop
from wattguard.testing.services import POSTGRES_URL


@pytest.fixture
def schema(pg_schema: str) -> str:
    return pg_schema


Row = tuple[str, str, int, float]


def _recorded() -> tuple[list[tuple[str, bytes]], list[Row]]:
    """The frames four terminals (16 meters, unprotected) sent in six simulated hours, and
    the readings a station stored from them."""
    from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
    from wattguard.testing import MIDNIGHT

    config = DeploymentConfig(meters=16, per_terminal=4, start=MIDNIGHT, seed=0, protected=False)
    deployment = Deployment(config, virtual_clock(config))
    frames: list[tuple[str, bytes]] = []
    deployment.bus.subscribe("up.*", lambda subject, frame: frames.append((subject, frame)))
    deployment.run_virtual(6 * 3600)
    rows = deployment.storage.query("SELECT meter, quantity, time, value FROM readings")
    return frames, [(m, q, int(t), float(v)) for m, q, t, v in rows]


def _checksum(rows: list[Row]) -> str:
    text = "\n".join(f"{m} {q} {t} {v!r}" for m, q, t, v in sorted(rows))
    return hashlib.sha256(text.encode()).hexdigest()


def _stored(schema: str) -> tuple[list[Row], int]:
    import psycopg

    with psycopg.connect(POSTGRES_URL) as connection:
        rows = connection.execute(
            f'SELECT meter, quantity, time, value FROM "{schema}".readings'
        ).fetchall()
    keys = {(m, q, t) for m, q, t, _ in rows}
    return [(m, q, int(t), float(v)) for m, q, t, v in rows], len(keys)


def _terminate(application: str, seconds: float = 30.0) -> int:
    """Cut every database connection of the station processes, once they have one again
    (a process reconnects at its next call after a cut); how many there were."""
    import psycopg

    deadline = time.monotonic() + seconds
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        while True:
            killed = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (application,),
            ).fetchall()
            if killed or time.monotonic() > deadline:
                return len(killed)
            time.sleep(0.05)


def _waiting(application: str, seconds: float = 30.0) -> int:
    """Wait until a station process's statement waits on a lock; how many do."""
    import psycopg

    deadline = time.monotonic() + seconds
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        while time.monotonic() < deadline:
            (waiting,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = %s AND wait_event_type = 'Lock'",
                (application,),
            ).fetchone()
            if waiting:
                return int(waiting)
            time.sleep(0.05)
    return 0


async def _publish(
    url: str, frames: list[tuple[str, bytes]], application: str, schema: str
) -> tuple[list[int], int]:
    """Send ``frames`` on the up stream in bursts, cutting the processes' database
    connections after the first, second and third quarter; the connections cut each time, and
    how many statements were waiting on the readings table at the second cut.

    From the second quarter on, the test holds the readings table against writers (``LOCK
    TABLE ... IN SHARE MODE``: readers go on) while the next burst goes out, until a worker's
    insert waits on it; the cut then lands on a transaction in flight, whose batch the worker
    has to retry. The first and third cuts land wherever the workers are."""
    import psycopg

    from wattguard.runtime.jetstream import JetStreamBus

    bus = await JetStreamBus.connect(url, manage_streams=False)
    cuts: list[int] = []
    waiting = 0
    half, held = len(frames) // 2, None
    try:
        for k, (subject, frame) in enumerate(frames):
            if k == half:
                held = await asyncio.to_thread(psycopg.connect, POSTGRES_URL)
                await asyncio.to_thread(
                    held.execute, f'LOCK TABLE "{schema}".readings IN SHARE MODE'
                )
            bus.publish(subject, frame, msg_id=f"frame-{k}")
            if k % 40 == 39:
                await bus.ready()
                await asyncio.sleep(0.15)
            if k in {len(frames) // 4, half + 40, 3 * len(frames) // 4}:
                await bus.ready()
                if held is not None:
                    waiting = await asyncio.to_thread(_waiting, application)
                cuts.append(await asyncio.to_thread(_terminate, application))
                if held is not None:
                    await asyncio.to_thread(held.close)  # the lock goes with its transaction
                    held = None
        await bus.ready()
    finally:
        if held is not None:
            held.close()
        await bus.close()
    return cuts, waiting


async def _drained(url: str) -> bool:
    import nats

    connection = await nats.connect(url)
    try:
        info = await connection.jetstream().consumer_info("WATTGUARD_UP", "station-up__")
        return info.num_pending == 0 and info.num_ack_pending == 0
    finally:
        await connection.close()


class _Lines:
    """A process's output, read on a thread, kept for the test to search."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, seconds: float = 60.0, after: int = 0) -> re.Match[str]:
        """The latest line matching ``pattern`` (among those from index ``after`` on)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in reversed(self.lines[after:]):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}: {self.lines[-5:]}")


def _numbers(match: re.Match[str]) -> list[int]:
    return [int(group.replace(",", "")) for group in match.groups()]


def test_connections_cut_mid_run_lose_nothing_and_store_nothing_twice(
    jetstream_server: str, schema: str
) -> None:
    frames, reference = _recorded()
    assert len(frames) > 400 and len(reference) > 1500
    application = f"wg_{schema}"
    database = f"{POSTGRES_URL}?schema={schema}&application_name={application}"
    common = ("station", "--bus", jetstream_server, "--jetstream", "--database", database,
              "--clock-tolerance", "inf")  # fmt: skip
    leader = spawn(*common, "--role", "api", "--api-port", "0")
    processes = [leader]
    try:
        said = _Lines(leader)
        said.wait_for(r"station \(api\): collecting")
        workers = [spawn(*common, "--role", "ingest") for _ in range(2)]
        processes += workers
        told = [_Lines(worker) for worker in workers]
        for lines in told:
            lines.wait_for(r"station \(ingest\): collecting")
        cuts, waiting = asyncio.run(_publish(jetstream_server, frames, application, schema))
        deadline = time.monotonic() + 120
        while True:
            rows, distinct = _stored(schema)
            if len(rows) >= len(reference) and asyncio.run(_drained(jetstream_server)):
                break
            assert time.monotonic() < deadline, f"{len(rows)} of {len(reference)} stored"
            time.sleep(1.0)
        marks = [len(lines.lines) for lines in told]
        heard = said.wait_for(rf", ({len(reference):,}) readings heard from the database", 30)
        said.wait_for("lock taken again", 5)
        time.sleep(5.5)  # another status line: the leader heard nothing twice
        again = said.wait_for(r", ([\d,]+) readings heard from the database", 1)
        # each worker's status line printed after everything was stored (an earlier one may
        # predate the cuts: the lines come every 5 s)
        status = r"([\d,]+) commits for ([\d,]+) reports \(([\d,]+) rows, ([\d,]+) failed"
        commits = [
            _numbers(lines.wait_for(status, 10, after=mark))
            for lines, mark in zip(told, marks, strict=True)
        ]
        assert leader.poll() is None, "the leader survived its connections being cut"
    finally:
        stop(processes)
    assert cuts[0] >= 4 and all(cuts), f"connections cut: {cuts}"  # leader's two, workers'
    assert waiting >= 1, "a worker's insert waited on the held table when it was cut"
    assert sum(c[3] for c in commits) >= 1, "the cut insert failed and was retried"
    assert len(rows) == distinct == len(reference), "each reading once, none lost"
    assert _checksum(rows) == _checksum(reference)
    assert _numbers(heard) == _numbers(again) == [len(reference)]
    transactions, reports, written = (sum(c[k] for c in commits) for k in range(3))
    print(
        f"{transactions} commits for {reports} reports ({written} rows); cuts {cuts}, "
        f"{waiting} waiting at the second, {sum(c[3] for c in commits)} commits failed"
    )
    assert transactions * 4 < reports, "the workers commit many reports per transaction"
