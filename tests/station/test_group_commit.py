"""Group commit: batches by size and by time, acknowledged only after the commit, a failed
commit acknowledges nothing, a killed station loses only what it never acknowledged; on
SQLite and PostgreSQL, and end to end from a terminal's reports."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from wattguard.clock import SystemClock, VirtualClock
from wattguard.events import EventKind, EventLog
from wattguard.meter.device import MeterConfig
from wattguard.network.bus import InProcessBus, down_subject, up_subject
from wattguard.network.fep import FepSession, FrameAdmitted
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Collected, CollectionTask, Terminal, encode_item
from wattguard.protocol import (
    OAD,
    Control,
    Data,
    DataType,
    LinkFrame,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetResponseNormal
from wattguard.protocol.apdu.report import ReportNotificationTransData, ReportResponseTransData
from wattguard.runtime.ingest import drive_group_commit, maintain_storage
from wattguard.runtime.simulation import Neighbourhood
from wattguard.station import Station
from wattguard.station.collector import Collector
from wattguard.station.group_commit import GroupCommit, GroupCommitConfig, IngestQueue
from wattguard.station.ingest import PlainVerifier, Reading
from wattguard.station.records import InvalidRecord, StorageError
from wattguard.station.storage import SqliteStorage
from wattguard.testing import T0
from wattguard.testing.meter import new_meter
from wattguard.testing.storage import Backend

M1, M2 = "000000000001", "000000000002"
ENERGY = "00100201"
TERMINAL = bytes.fromhex("990000000001")
TASK = CollectionTask("real-time", 900.0, (OAD(0x0010, 2, 0),))


def report(meter: str, start: int, n: int = 10) -> list[Reading]:
    return [Reading(meter, ENERGY, start + 60 * k, float(start + k)) for k in range(n)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# the sans-IO core


def test_the_size_trigger_fires_at_max_rows() -> None:
    core: GroupCommit[str] = GroupCommit(max_rows=25, max_delay=1.0)
    core.add([("m", "q", 1, 1.0, None)] * 10, "a", 0.0)
    core.add([("m", "q", 2, 1.0, None)] * 10, "b", 0.0)
    assert not core.due(0.0)
    core.add([("m", "q", 3, 1.0, None)] * 5, "c", 0.0)
    assert core.due(0.0)
    batch = core.take()
    assert batch is not None and batch.acks == ("a", "b", "c") and len(batch.rows) == 25
    assert core.take() is None and core.pending == 0 and not core.due(99.0)


def test_the_time_trigger_fires_when_the_oldest_report_waited_max_delay() -> None:
    core: GroupCommit[str] = GroupCommit(max_rows=1000, max_delay=0.005)
    assert core.get_timer() is None
    core.add([("m", "q", 1, 1.0, None)], "a", 10.0)
    core.add([("m", "q", 2, 1.0, None)], "b", 10.004)
    assert core.get_timer() == pytest.approx(10.005)
    assert not core.due(10.0049)
    assert core.due(10.005)
    assert core.take() is not None and core.get_timer() is None


def test_the_core_refuses_triggers_that_make_no_sense() -> None:
    with pytest.raises(ValueError):
        GroupCommit(max_rows=0)
    with pytest.raises(ValueError):
        GroupCommit(max_delay=float("nan"))


# the queue on each backend


def test_reports_are_acknowledged_only_after_their_batch_is_durable(backend: Backend) -> None:
    store = backend.open()
    # what another process sees is what is durable (SQLite in memory: the same connection)
    observer = backend.open()
    clock = Clock()
    seen: list[tuple[str, bool, int]] = []

    def ack(name: str) -> object:
        return lambda ok: seen.append((name, ok, observer.count_readings()))

    # committed on the caller's thread (the writer thread's overlap: the test below)
    config = GroupCommitConfig(35, 0.005, overlap=False)
    queue = IngestQueue(store, clock, lambda: 1e9, config=config)
    queue.add(report(M1, 0), ack("r1"))
    queue.add(report(M2, 0), ack("r2"))
    clock.now += 0.004
    assert queue.handle_timer(clock.now) == 0  # not yet due: nothing written, nothing acked
    assert seen == [] and observer.count_readings() == 0
    clock.now += 0.001
    assert queue.handle_timer(clock.now) == 20
    assert seen == [("r1", True, 20), ("r2", True, 20)]
    # the size trigger: the report that fills the batch commits it at once
    queue.add(report(M1, 6000, 20), ack("r3"))
    queue.add(report(M2, 6000, 20), ack("r4"))
    assert seen[2:] == [("r3", True, 60), ("r4", True, 60)]
    assert (queue.stats.commits, queue.stats.reports, queue.stats.new) == (2, 4, 60)
    assert len(queue.stats.latencies) == 4 and max(queue.stats.latencies) == pytest.approx(0.005)


def test_on_the_writer_thread_a_batch_is_acknowledged_once_its_commit_returned(
    tmp_path: Path,
) -> None:
    """SQLite's writer thread (GroupCommitConfig.overlap): a due batch is inserted at once and
    committed on the thread; its reports are acknowledged by a later timer (or flush) that
    finds the commit returned, each seeing its rows in another connection (durable); the next
    batch gathers while one is in flight; a commit that fails is acknowledged False."""
    path = tmp_path / "station.db"
    store = SqliteStorage(str(path))
    observer = SqliteStorage(str(path))
    clock = Clock()
    seen: list[tuple[str, bool, int]] = []

    def ack(name: str) -> object:
        return lambda ok: seen.append((name, ok, observer.count_readings()))

    queue = IngestQueue(store, clock, lambda: 1e9, config=GroupCommitConfig(1000, 0.005))
    queue.add(report(M1, 0), ack("r1"))
    clock.now += 0.005
    queue.handle_timer(clock.now)  # due: inserted, its commit in flight (or already back)
    assert queue.get_timer() is not None
    queue.add(report(M2, 0), ack("r2"))  # gathers meanwhile
    while not seen:
        queue.handle_timer(clock.now)
    assert seen == [("r1", True, 10)]
    assert queue.flush() == 10 and seen[1:] == [("r2", True, 20)]
    assert queue.get_timer() is None and queue.stats.commits == 2
    refusing = sqlite3.connect(path)
    refusing.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'full'); END"
    )
    refusing.commit()
    refusing.close()
    queue.add(report(M1, 6000), ack("r3"))
    assert queue.flush() == 0 and seen[2:] == [("r3", False, 20)] and queue.stats.failed == 1
    store.close()  # the writer thread stops
    observer.close()


def test_begin_rows_commits_on_the_writer_thread_on_each_backend(backend: Backend) -> None:
    """Storage.begin_rows (SQLite and PostgreSQL): the future gives the new rows once the
    commit returned; a call meanwhile waits for it; a batch the database refuses raises at
    once, stores nothing, and leaves the storage usable."""
    store = backend.open()
    rows = [(M1, ENERGY, 60 * k, 1.0, None) for k in range(30)]
    pending = store.begin_rows(rows)
    assert store.count_readings() == 30  # waited for the commit in flight
    assert pending.result(timeout=30) == 30
    assert store.begin_rows(rows).result(timeout=30) == 0  # all duplicates
    backend.refuse_value(store)
    with pytest.raises(StorageError):  # InvalidRecord on SQLite, a failure on PostgreSQL
        store.begin_rows([(M2, ENERGY, 0, 1.0, None), (M2, ENERGY, 60, 666.5, None)])
    assert store.count_readings() == 30
    assert store.begin_rows([(M2, ENERGY, 0, 2.0, None)]).result(timeout=30) == 1


def test_a_redelivered_report_is_stored_once_and_counted_as_duplicates(backend: Backend) -> None:
    store = backend.open()
    queue = IngestQueue(store, Clock(), lambda: 1e9)
    acks: list[bool] = []
    queue.add(report(M1, 0), acks.append)
    queue.add(report(M1, 0), acks.append)  # the same batch again: its ack was lost
    queue.flush()
    queue.add([*report(M1, 0, 5), *report(M2, 0, 5)], acks.append)
    queue.flush()
    assert acks == [True, True, True]
    assert store.count_readings() == 15
    assert (queue.stats.rows, queue.stats.new, queue.stats.duplicates) == (30, 15, 15)


def test_a_failed_commit_acknowledges_nothing_and_the_resend_is_stored(backend: Backend) -> None:
    store = backend.open()
    backend.refuse_value(store)
    queue = IngestQueue(store, Clock(), lambda: 1e9)
    acks: list[tuple[str, bool]] = []
    queue.add(report(M1, 0), lambda ok: acks.append(("good", ok)))
    poisoned = [Reading(M2, ENERGY, 60, 666.5)]
    queue.add(poisoned, lambda ok: acks.append(("bad", ok)))
    assert queue.flush() == 0
    assert acks == [("good", False), ("bad", False)]
    assert store.count_readings() == 0 and queue.stats.failed == 1 and queue.stats.commits == 0
    # the terminal resends both (never acknowledged); the database works again
    backend.raw(
        store, "DROP TRIGGER refuse" + (" ON readings" if backend.name == "postgresql" else "")
    )
    queue.add(report(M1, 0), lambda ok: acks.append(("good", ok)))
    queue.add(poisoned, lambda ok: acks.append(("bad", ok)))
    assert queue.flush() == 11
    assert acks[2:] == [("good", True), ("bad", True)] and store.count_readings() == 11


def test_an_invalid_report_is_refused_alone_and_never_poisons_a_batch(backend: Backend) -> None:
    store = backend.open()
    queue = IngestQueue(store, Clock(), lambda: 1e9)
    acks: list[bool] = []
    queue.add(report(M1, 0), acks.append)
    with pytest.raises(InvalidRecord):
        queue.add([Reading(M2, ENERGY, 60, float("nan"))], acks.append)
    queue.flush()
    assert acks == [True] and store.count_readings() == 10


_KILLED = """
import os, signal, sys, time
from wattguard.station.group_commit import GroupCommitConfig, IngestQueue
from wattguard.station.ingest import Reading
from wattguard.station.storage import open_storage

store = open_storage(sys.argv[1])
now = [0.0]
overlap = sys.argv[2] == "overlap"
config = GroupCommitConfig(10_000, 0.005, overlap=overlap)
queue = IngestQueue(store, lambda: now[0], lambda: 1e9, config=config)

def ack(k):
    return lambda ok: print(f"acked {k} {ok}", flush=True)

for k in range(40):
    now[0] = k / 1000  # a report a millisecond: the time trigger commits about every 5
    time.sleep(0.002)  # (in real time too: a commit on the writer thread has time to return)
    queue.handle_timer(now[0])
    queue.add([Reading(f"{k:012d}", "00100201", t * 60, float(t)) for t in range(25)], ack(k))
os.kill(os.getpid(), signal.SIGKILL)  # the last reports are queued, not committed
"""


@pytest.mark.parametrize("overlap", ["overlap", "inline"])
def test_a_killed_station_loses_only_what_it_never_acknowledged(
    persistent: Backend, overlap: str
) -> None:
    persistent.open()  # the schema exists before the child writes
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED), persistent.url, overlap],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    acked = {int(line.split()[1]) for line in child.stdout.splitlines() if line.endswith("True")}
    # committing on the writer thread, a batch is acknowledged when a later timer finds its
    # commit returned: fewer are by the kill, never one that is not stored
    assert len(acked) >= (10 if overlap == "overlap" else 30) and max(acked) < 39
    store = persistent.open()
    stored = {int(r.meter) for r in store.latest(ENERGY)}
    assert acked <= stored  # everything acknowledged is there
    assert store.count_readings() == 25 * len(stored)  # whole reports, never a part of one


# end to end: a terminal's reports through the FEP's checks, the bus and the station


class Chain:
    """A terminal with five meters, the FEP's checks, the in-process bus and a station with
    group commit on a SQLite file; the test drives the group commit's timer (``auto``)."""

    def __init__(self, tmp_path: Path, max_delay: float = 0.005, overlap: bool = True) -> None:
        self.clock = VirtualClock(T0)
        self.bus = InProcessBus()
        self.storage = SqliteStorage(str(tmp_path / "station.db"))
        self.channel = HplcChannel(seed=3)
        self.terminal = Terminal(TERMINAL, self.channel, tasks=(TASK,), start=T0)
        meters = [
            new_meter(bytes.fromhex(f"{i:012d}"), config=MeterConfig(protected=False))
            for i in range(1, 6)
        ]
        for meter in meters:
            self.terminal.add_meter(meter.address)
        self.fep = FepSession(TERMINAL, T0)
        load = (np.full(5, 800.0), np.full(5, 100.0))
        self.net = Neighbourhood(
            self.terminal, self.channel, meters, lambda now, s: load, upstream=self._up
        )
        self.acks = 0  # report acknowledgements the station sent down
        self.auto = False
        self.net.on_step.append(self._step)
        self.bus.subscribe(down_subject(TERMINAL), self._down)
        self.station = Station(
            self.storage, self.bus, self.clock, balance=False,
            group_commit=GroupCommitConfig(10_000, max_delay, overlap=overlap),
        )  # fmt: skip
        self.net.power_up(T0)
        self.net.connected(T0)

    def _step(self, now: float) -> None:
        self.clock.advance(max(0.0, now - self.clock.time()))  # the monotonic clock too
        if self.auto:  # as the runtime, which looks every millisecond, would see it
            self.station.tick_ingest()
            if self.station.ingest is not None:
                self.station.ingest.settle()

    def _up(self, data: bytes) -> None:
        self.clock.advance(max(0.0, self.net.now - self.clock.time()))
        self.fep.receive_data(data, self.net.now)
        while (event := self.fep.next_event()) is not None:
            if isinstance(event, FrameAdmitted):
                self.bus.publish(up_subject(TERMINAL), event.frame.to_bytes())
        if self.auto and self.station.ingest is not None:
            self.station.ingest.settle()  # a commit in flight lands within milliseconds

    def _down(self, subject: str, payload: bytes) -> None:
        at = 0
        while at < len(payload):  # held bytes go down together: frame by frame
            end = at + (int.from_bytes(payload[at + 1 : at + 3], "little") & 0x3FFF) + 2
            apdu = decode_apdu(decode_frame(payload[at:end]).apdu)
            self.acks += isinstance(apdu, ReportResponseTransData)
            at = end
        self.net.from_upstream(payload)

    def totals(self) -> int:
        return self.storage.count_readings_of(ENERGY)


def test_a_terminals_report_is_acknowledged_after_its_commit(tmp_path: Path) -> None:
    d = Chain(tmp_path, max_delay=600.0, overlap=False)
    d.net.run_until(T0 + 20)  # the first reads went up; the batch waits for its timer
    assert d.station.ingest is not None and d.station.ingest.core.reports >= 1
    assert d.acks == 0 and d.storage.count_readings() == 0 and d.terminal.outbox
    queued = d.station.ingest.core.pending
    d.clock.advance(600.0)
    d.station.tick_ingest()
    assert d.storage.count_readings() == queued > 0 and d.acks >= 1  # durable, then acked
    d.station.ingest.core.max_delay = 0.005
    d.auto = True
    d.net.run_until(T0 + 3660)
    assert d.totals() == 5 * 5 and not d.terminal.outbox
    stats = d.station.ingest.stats
    assert stats.commits <= stats.reports and stats.failed == 0


def test_a_failed_commit_is_never_acknowledged_and_the_terminal_resends(tmp_path: Path) -> None:
    d = Chain(tmp_path)
    d.auto = True
    broken = sqlite3.connect(tmp_path / "station.db")
    broken.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'full'); END"
    )
    broken.commit()
    d.net.run_until(T0 + 25)
    assert d.station.ingest is not None and d.station.ingest.stats.failed >= 1
    assert d.acks == 0 and d.totals() == 0
    broken.execute("DROP TRIGGER refuse")
    broken.commit()
    broken.close()
    d.net.run_until(T0 + 3660)  # the unacknowledged report goes up again and is stored
    assert d.totals() == 5 * 5 and not d.terminal.outbox


# the runtime's timer (asyncio, the system clock)


def test_the_runtime_commits_a_waiting_batch_within_milliseconds(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "station.db"))
    station = Station(storage, InProcessBus(), SystemClock(), group_commit=GroupCommitConfig())
    assert station.ingest is not None
    acked: list[float] = []

    async def run() -> None:
        committer = asyncio.create_task(drive_group_commit(station))
        await asyncio.sleep(0.02)
        began = time.monotonic()
        station.ingest.add(report(M1, 0), lambda ok: acked.append(time.monotonic() - began))
        await asyncio.sleep(0.2)
        committer.cancel()

    asyncio.run(run())
    assert len(acked) == 1 and acked[0] < 0.1 and storage.count_readings() == 10


def test_the_runtime_upkeep_applies_the_retention(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "station.db"))
    old = int(time.time()) - 10 * 86_400
    storage.add_readings(
        [Reading(M1, ENERGY, old, 1.0), Reading(M1, ENERGY, old + 9 * 86_400, 2.0)]
    )

    async def run() -> None:
        upkeep = asyncio.create_task(maintain_storage(storage, retain_days=3))
        await asyncio.sleep(0.2)
        upkeep.cancel()

    asyncio.run(run())
    assert [r.value for r in storage.readings(M1)] == [2.0]


def test_readings_the_storage_refuses_for_good_are_an_event_and_acknowledged(
    tmp_path: Path,
) -> None:
    storage = SqliteStorage(str(tmp_path / "station.db"))
    bus, clock, events = InProcessBus(), VirtualClock(T0), EventLog()
    queue = IngestQueue(storage, clock.monotonic, clock.time)
    collector = Collector(
        bus, clock, PlainVerifier(), lambda readings: None, events=events,
        require_protection=False, commits=queue,
    )  # fmt: skip
    sent: list[bytes] = []
    bus.subscribe(down_subject(TERMINAL), lambda subject, payload: sent.append(payload))

    def report(value: float, piid: int) -> None:
        answer = GetResponseNormal(
            1, AResultNormal(OAD(0x2000, 2, 1), Data(DataType.FLOAT64, value))
        )
        item = Collected(bytes.fromhex(M1), T0, b"", answer.to_bytes())
        notification = ReportNotificationTransData(piid, OAD(0xF209, 2, 1), (encode_item(item),))
        frame = LinkFrame(
            Control(True, False), ServerAddress(TERMINAL), 0x10, notification.to_bytes()
        )
        bus.publish(up_subject(TERMINAL), frame.to_bytes())

    report(float("nan"), 1)  # a value no database row may hold: refused, never stored
    assert len(sent) == 1 and queue.core.reports == 0
    assert [e.kind for e in events.events] == [EventKind.MALFORMED]
    report(2305.0, 2)  # a good one (voltage, scaler -1) waits for its commit
    assert len(sent) == 1 and queue.core.reports == 1
    queue.flush()
    assert len(sent) == 2 and [r.value for r in storage.readings(M1)] == [pytest.approx(230.5)]
    assert collector.links[TERMINAL].waiting == 0
