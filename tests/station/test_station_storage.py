"""The station's storage: the same tests on SQLite (file and memory) and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wattguard_testing import require

from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.station.audit import StationAudit
from wattguard.station.commands import CommandBook, CommandKind, Role, User
from wattguard.station.ingest import Reading
from wattguard.station.monitor import Rule, SecurityMonitor
from wattguard.station.storage import PostgresStorage, SqliteStorage, Storage, open_storage

POSTGRES_URL = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres() -> PostgresStorage:
    try:
        return PostgresStorage(POSTGRES_URL, schema=f"t_{uuid.uuid4().hex[:12]}")
    except ConfigError as exc:
        require(
            False,
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); set WATTGUARD_POSTGRES_URL",
        )
        raise


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "sqlite-memory":
        store: Storage = SqliteStorage()
    elif request.param == "sqlite-file":
        store = SqliteStorage(str(tmp_path / "station.db"))
    else:
        store = _postgres()
    yield store
    if isinstance(store, PostgresStorage):
        store.drop()
    store.close()


def R(meter: str, time: int, value: float, quantity: str = "00100201") -> Reading:
    return Reading(meter, quantity, time, value)


def test_readings_are_stored_once_however_often_they_arrive(storage: Storage) -> None:
    batch = [R("000000000001", 60 * k, k * 1.5) for k in range(100)]
    assert storage.add_readings(batch) == 100
    assert storage.add_readings([*batch[50:], R("000000000001", 6000, 9.0)]) == 1
    assert storage.count_readings() == 101
    got = storage.readings("000000000001", "00100201", start=600, end=1200)
    assert [r.time for r in got] == list(range(600, 1200, 60))
    assert got[0].value == 15.0
    assert storage.add_readings([]) == 0


def test_duplicates_within_one_batch_count_once(storage: Storage) -> None:
    assert storage.add_readings([R("a", 1, 1.0), R("a", 1, 1.0), R("a", 2, 2.0)]) == 2


def test_latest_reading_per_meter(storage: Storage) -> None:
    storage.add_readings(
        [R("m1", 10, 1.0), R("m1", 20, 2.0), R("m2", 5, 7.0), R("m2", 5, 0.0, "20000201")]
    )
    assert [(r.meter, r.time, r.value) for r in storage.latest("00100201")] == [
        ("m1", 20, 2.0),
        ("m2", 5, 7.0),
    ]


def test_a_failing_batch_stores_nothing(storage: Storage) -> None:
    good = R("m", 1, 1.0)
    bad = Reading("m", "00100201", 2, "not a number")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        storage.add_readings([good, bad])
    assert storage.count_readings() == 0


def test_meters_events_alerts_commands_and_audit(storage: Storage) -> None:
    storage.register_meter("000000000001", "990000000001", 1.0)
    storage.register_meter("000000000001", "990000000002", 2.0)  # moved to another terminal
    assert storage.meters() == [("000000000001", "990000000002")]

    monitor = SecurityMonitor(
        storage,
        rules=(Rule("forged", frozenset({EventKind.BAD_MAC}), threshold=3, window=60, quiet=100),),
    )
    for t in (0, 10, 100, 110, 120, 130):
        monitor.record(SecurityEvent(EventKind.BAD_MAC, "meter 1", f"MAC at {t}", float(t)))
    monitor.record(SecurityEvent(EventKind.TAMPER, "meter 2", "cover open", 5.0))
    assert storage.count_events() == 7
    assert len(storage.events(kind=EventKind.BAD_MAC)) == 6
    assert [e.detail for e in storage.events(source="meter 2")] == ["cover open"]
    (alert,) = storage.alerts(open_only=True)  # 0 and 10 are too few; 100..120 open it
    assert alert.rule == "forged" and alert.count == 2 and alert.opened == 120.0
    monitor.tick(229.0)  # quiet for 99 s since the last match: still open
    assert len(storage.alerts(open_only=True)) == 1
    monitor.tick(230.0)
    assert storage.alerts(open_only=True) == [] and storage.alerts()[0].closed == 230.0

    audit = StationAudit(storage, clock=lambda: 42.0)
    book = CommandBook(audit=audit)
    command = book.issue(User("otto", Role.OPERATOR), CommandKind.TRIP, ("000000000001",), 1.0)
    storage.save_command(command)
    storage.save_command(book.sent(command.id, 2.0))
    assert storage.command(command.id) == book.get(command.id)
    assert storage.commands()[0].state.name == "SENT"
    assert storage.command(999) is None
    assert audit.verify() is None and len(storage.audit()) == 2
    reopened = StationAudit(storage, clock=lambda: 43.0)
    reopened("login", "sun")
    assert reopened.verify() is None


def test_the_audit_chain_catches_an_edited_row(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "a.db"))
    audit = StationAudit(storage, clock=lambda: 1.0)
    for i in range(4):
        audit("approve", f"command {i}")
    storage._db.execute("UPDATE audit SET detail = 'command 9' WHERE seq = 2")
    assert audit.verify() == 2
    storage._db.execute("UPDATE audit SET detail = 'command 2' WHERE seq = 2")
    storage._db.execute("DELETE FROM audit WHERE seq = 1")
    assert audit.verify() == 1


def test_data_survives_reopening_and_migration_is_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "station.db")
    first = SqliteStorage(path)
    first.add_readings([R("m", 1, 1.0)])
    first.close()
    second = open_storage(f"sqlite:///{path}")
    assert second.count_readings() == 1
    second._db.execute("UPDATE schema_version SET version = 99")
    second.close()
    with pytest.raises(ConfigError, match="upgrade wattguard"):
        SqliteStorage(path)


def test_storage_urls() -> None:
    assert isinstance(open_storage("sqlite://"), SqliteStorage)
    with pytest.raises(ConfigError, match="unknown storage URL"):
        open_storage("mysql://root@localhost/x")
    with pytest.raises(ConfigError, match="cannot connect to PostgreSQL"):
        PostgresStorage("postgresql://nobody:secret@127.0.0.1:1/none")


@settings(max_examples=30)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 20), st.integers(0, 5)),
            max_size=15,
        ),
        max_size=8,
    )
)
def test_any_delivery_order_with_repeats_stores_the_set_of_readings(
    batches: list[list[tuple[str, int, int]]],
) -> None:
    storage = SqliteStorage()
    total = 0
    for batch in batches:
        total += storage.add_readings([R(m, t, float(v)) for m, t, v in batch])
    keys = {(m, t) for batch in batches for m, t, _ in batch}
    assert total == len(keys) == storage.count_readings()


def test_events_of_other_processes_arrive_over_the_bus_and_garbage_is_ignored() -> None:
    from wattguard.clock import VirtualClock
    from wattguard.network.bus import EventPublisher, InProcessBus
    from wattguard.station.service import Station

    bus = InProcessBus()
    storage = SqliteStorage()
    station = Station(storage, bus, VirtualClock(1000.0))
    EventPublisher(bus, "fep").record(
        SecurityEvent(EventKind.FLOOD, "FEP-1 10.0.0.9:5000", "over the rate limit", 1000.0)
    )
    bus.publish("events.fep", b"not json")
    (stored,) = storage.events()
    assert stored.kind == EventKind.FLOOD and stored.source == "FEP-1 10.0.0.9:5000"
    assert storage.alerts(open_only=True)[0].rule == "flood"
    station.close()
