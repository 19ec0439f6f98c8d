"""The station's storage: one suite, run on SQLite (memory and file) and PostgreSQL."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.station._schema import MIGRATIONS, SCHEMA_VERSION
from wattguard.station.commands import CommandBook, CommandKind, Role, User
from wattguard.station.ingest import Reading
from wattguard.station.storage import (
    InvalidRecord,
    MeterState,
    PostgresStorage,
    SqliteStorage,
    StorageError,
    StorageUnavailable,
    open_storage,
)
from wattguard.testing.storage import Backend, Store

M1, M2, T1, T2 = "000000000001", "0000000000a2", "990000000001", "990000000002"
ENERGY = "00100201"


@pytest.fixture
def storage(backend: Backend) -> Store:
    return backend.open()


def R(meter: str, time: int, value: float, quantity: str = ENERGY) -> Reading:
    return Reading(meter, quantity, time, value)


# readings


def test_readings_are_stored_once_however_often_they_arrive(storage: Store) -> None:
    batch = [R(M1, 60 * k, k * 1.5) for k in range(100)]
    assert storage.add_readings(batch, received=5.0) == 100
    assert storage.add_readings([*batch[50:], R(M1, 6000, 9.0)]) == 1
    assert storage.count_readings() == 101 == storage.count_readings_of(ENERGY)
    got = storage.readings(M1, ENERGY, start=600, end=1200)
    assert [r.time for r in got] == list(range(600, 1200, 60))
    assert got[0] == Reading(M1, ENERGY, 600, 15.0)
    assert storage.add_readings([]) == 0


def test_duplicates_within_one_batch_count_once_and_the_first_value_stays(storage: Store) -> None:
    assert storage.add_readings([R(M1, 1, 1.0), R(M1, 1, 5.0), R(M1, 2, 2.0)]) == 2
    assert [r.value for r in storage.readings(M1)] == [1.0, 2.0]


def test_keys_are_normalised_so_a_respelt_redelivery_is_still_a_duplicate(storage: Store) -> None:
    assert storage.add_readings([R("0000000000A2", 1, 1.0, "50020200/00100201")]) == 1
    assert storage.add_readings([R("0000000000a2", 1, 1.0, "50020200/00100201".lower())]) == 0
    (stored,) = storage.readings(M2.upper(), "50020200/00100201")
    assert (stored.meter, stored.quantity) == (M2, "50020200/00100201")


def test_latest_reading_per_meter(storage: Store) -> None:
    storage.add_readings(
        [R(M1, 10, 1.0), R(M1, 20, 2.0), R(M2, 5, 7.0), R(M2, 50, 0.0, "20000201")]
    )
    assert [(r.meter, r.time, r.value) for r in storage.latest(ENERGY)] == [
        (M1, 20, 2.0),
        (M2, 5, 7.0),
    ]


BAD_READINGS: list[Any] = [
    R("00000000001", 2, 1.0),  # 11 digits
    R("00000000000g", 2, 1.0),
    Reading(1, ENERGY, 2, 1.0),  # type: ignore[arg-type]
    R(M1, 2, 1.0, "0010020"),
    R(M1, 2, 1.0, "00100201/"),
    R(M1, 2, 1.0, "00100201; DROP TABLE readings"),
    Reading(M1, ENERGY, 2.5, 1.0),  # type: ignore[arg-type]
    Reading(M1, ENERGY, True, 1.0),  # type: ignore[arg-type]
    R(M1, -1, 1.0),
    R(M1, 2**63, 1.0),
    Reading(M1, ENERGY, 2, "1.0"),  # type: ignore[arg-type]
    Reading(M1, ENERGY, 2, None),  # type: ignore[arg-type]
    R(M1, 2, math.nan),
    R(M1, 2, math.inf),
    (M1, ENERGY, 2, 1.0),  # not a Reading
]


@pytest.mark.parametrize("bad", BAD_READINGS, ids=range(len(BAD_READINGS)))
def test_a_bad_reading_is_refused_by_position_and_its_batch_stores_nothing(
    storage: Store, bad: Any
) -> None:
    storage.add_readings([R(M1, 0, 0.5)])
    with pytest.raises(InvalidRecord) as refused:
        storage.add_readings([R(M1, 1, 1.0), bad, R(M1, 3, 3.0)])
    assert refused.value.index == 1 and "row 1" in str(refused.value)
    assert storage.count_readings() == 1
    assert storage.add_readings([R(M1, 1, 1.0), R(M1, 3, 3.0)]) == 2  # the good ones, resent


def test_numbers_of_other_types_are_stored_as_floats(storage: Store) -> None:
    np = pytest.importorskip("numpy")
    assert storage.add_readings([R(M1, np.int64(7), np.float32(2.5)), R(M1, 8, 3)]) == 2
    assert [(r.time, r.value) for r in storage.readings(M1)] == [(7, 2.5), (8, 3.0)]


def test_a_batch_the_database_refuses_half_way_stores_nothing(
    backend: Backend, storage: Store
) -> None:
    backend.refuse_value(storage)
    batch = [R(M1, t, float(t)) for t in range(1000)]
    batch[500] = R(M1, 500, 666.5)
    with pytest.raises(StorageError, match="refused"):
        storage.add_readings(batch)
    assert storage.count_readings() == 0
    batch[500] = R(M1, 500, 500.0)
    assert storage.add_readings(batch) == 1000  # the connection is usable afterwards


_CRASH = """
import os, sys
from wattguard.station.ingest import Reading
from wattguard.station.storage import open_storage

store = open_storage(sys.argv[1])
cls = type(store)

def crash(self, cur, rows):
    cls._insert_readings(self, cur, rows)  # every row is written, not yet committed
    print("written", flush=True)
    os._exit(3)

store._insert_readings = crash.__get__(store)
store.add_readings(
    [Reading("000000000001", "00100201", t, float(t)) for t in range(1000, 2000)]
)
"""


def test_a_station_dying_mid_batch_leaves_no_partial_batch(persistent: Backend) -> None:
    first = persistent.open()
    assert first.add_readings([R(M1, t, float(t)) for t in range(1000)]) == 1000
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASH), persistent.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (child.returncode, child.stdout) == (3, "written\n"), child.stderr
    again = persistent.open()
    assert again.count_readings() == 1000
    # the terminal never got its acknowledgement, so it sends the batch again: all of it is new
    assert again.add_readings([R(M1, t, float(t)) for t in range(1000, 2000)]) == 1000
    assert first.count_readings() == 2000


def test_reopening_keeps_data_and_migrating_again_changes_nothing(persistent: Backend) -> None:
    first = persistent.open()
    first.add_readings([R(M1, 1, 1.0)])
    first.register_meter(M1, T1, 1.0)
    assert first.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    first.close()
    second = persistent.open()
    third = persistent.open()  # two at once, as two station processes would
    assert second.count_readings() == 1 == third.count_readings()
    assert second.meters() == [(M1, T1)]
    assert third.schema_versions() == list(range(1, SCHEMA_VERSION + 1))


def test_a_database_from_a_newer_wattguard_is_refused(persistent: Backend) -> None:
    store = persistent.open()
    persistent.raw(store, "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError, match="upgrade wattguard"):
        persistent.open()


def test_a_version_1_database_is_upgraded_in_place(persistent: Backend) -> None:
    store = persistent.open()
    # rebuild the database as the first release wrote it
    tables = ("meters", "readings", "events", "alerts", "commands", "audit", "users",
              "operational_events", "rules", "rule_firings", "firmware_images", "campaigns",
              "campaign_meters", "districts", "charging_state")  # fmt: skip
    for table in (*tables, "schema_version"):
        persistent.raw(store, f"DROP TABLE {table}")
    serial = store._serial
    persistent.raw(store, "CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0].statements:
        persistent.raw(store, statement.format(serial=serial))
    persistent.raw(store, "INSERT INTO schema_version VALUES (1)")
    persistent.raw(store, f"INSERT INTO readings VALUES ('{M1}', '{ENERGY}', 60, 1.5)")
    persistent.raw(store, f"INSERT INTO meters VALUES ('{M1}', '{T1}', 1.0)")
    persistent.raw(
        store,
        "INSERT INTO events (time, kind, source, detail) VALUES "
        f"(5.0, 'TAMPER', 'meter {M2} management', 'cover'), (6.0, 'FLOOD', 'fep 1', 'x')",
    )
    persistent.raw(
        store,
        "INSERT INTO alerts (rule, severity, subject, opened, closed, count, evidence) "
        "VALUES ('tamper', 'critical', 'meter 1', 7.0, NULL, 1, 'cover')",
    )
    upgraded = persistent.open()
    assert upgraded.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    assert upgraded.readings(M1) == [R(M1, 60, 1.5)]
    record = upgraded.meter(M1)
    assert record is not None and (record.state, record.meter_class) == (MeterState.ACTIVE, None)
    assert [e.meter for e in upgraded.events()] == [None, M2]
    (alert,) = upgraded.alerts(open_only=True)
    assert alert.last == 7.0


# meters, events, alerts, commands


def test_meters_are_registered_moved_classified_and_change_state(storage: Store) -> None:
    storage.register_meter(M1, T1, 1.0, meter_class="0.5S")
    storage.register_meter(M1.upper(), T2, 2.0)  # moved to another terminal
    assert storage.meters() == [(M1, T2)]
    storage.set_meter_state(M1, MeterState.DISCONNECTED, 3.0)
    record = storage.meter(M1)
    assert record is not None
    assert (record.terminal, record.registered, record.meter_class) == (T2, 1.0, "0.5S")
    assert (record.state, record.state_changed) == (MeterState.DISCONNECTED, 3.0)
    assert storage.meter(M2) is None
    with pytest.raises(InvalidRecord, match="no meter"):
        storage.set_meter_state(M2, MeterState.ACTIVE, 4.0)
    with pytest.raises(InvalidRecord, match="terminal"):
        storage.register_meter(M2, "terminal 1", 4.0)


def test_events_are_filtered_by_kind_meter_source_and_time(storage: Store) -> None:
    events = [
        SecurityEvent(EventKind.BAD_MAC, f"meter {M1} management/SPI", "forged", 10.0),
        SecurityEvent(EventKind.BAD_MAC, f"station/ingest meter {M1.upper()}", "forged", 20.0),
        SecurityEvent(EventKind.TAMPER, f"meter {M2}", "cover open", 30.0),
        SecurityEvent(EventKind.MALFORMED, "fep 100%_a", "garbage", 40.0),
    ]
    ids = [storage.add_event(event, received=100.0 + k) for k, event in enumerate(events)]
    assert ids == sorted(ids) and storage.count_events() == 4
    assert [e.id for e in storage.events()] == ids[::-1]
    assert [e.time for e in storage.events(kind=EventKind.BAD_MAC)] == [20.0, 10.0]
    assert [e.time for e in storage.events(meter=M1)] == [20.0, 10.0]
    assert [e.detail for e in storage.events(source="MANAGEMENT/spi")] == ["forged"]
    assert [e.source for e in storage.events(source="100%_")] == ["fep 100%_a"]
    assert storage.events(source="1000") == [] and storage.events(source="_") != []
    assert [e.time for e in storage.events(since=20.0, until=40.0)] == [30.0, 20.0]
    (tamper,) = storage.events(kind=EventKind.TAMPER)
    assert (tamper.meter, tamper.received, tamper.kind) == (M2, 102.0, EventKind.TAMPER)
    assert len(storage.events(limit=1)) == 1
    assert storage.events(source="'; DROP TABLE events; --") == []  # a value, never SQL
    assert storage.count_events() == 4
    with pytest.raises(InvalidRecord):
        storage.add_event(SecurityEvent(EventKind.TAMPER, "x", "y", math.nan))
    with pytest.raises(InvalidRecord):
        storage.add_event(SecurityEvent(EventKind.TAMPER, "x" * 5000, "y", 1.0))
    assert storage.count_events() == 4


def test_alerts_open_bump_and_close(storage: Store) -> None:
    first = storage.open_alert("tamper", "critical", f"meter {M1}", 5.0, "cover")
    second = storage.open_alert("flood", "critical", "fep 1", 6.0, "rate")
    storage.bump_alert(first, "cover again", 9.0)
    storage.close_alert(second, 10.0)
    storage.close_alert(second, 11.0)  # closing twice keeps the first time
    (alert,) = storage.alerts(open_only=True)
    assert (alert.id, alert.count, alert.evidence, alert.opened, alert.last) == (
        first, 2, "cover again", 5.0, 9.0,
    )  # fmt: skip
    assert [(a.id, a.closed) for a in storage.alerts()] == [(second, 10.0), (first, None)]


def test_commands_are_saved_and_updated(storage: Store) -> None:
    book = CommandBook(audit=lambda action, detail: None)
    command = book.issue(User("otto", Role.OPERATOR), CommandKind.TRIP, (M1,), 1.0)
    storage.save_command(command)
    storage.save_command(book.sent(command.id, 2.0))
    assert storage.command(command.id) == book.get(command.id)
    assert storage.commands()[0].state.name == "SENT"
    assert storage.command(999) is None
    with pytest.raises(InvalidRecord):
        storage.save_command("trip everything")  # type: ignore[arg-type]


# the same on every run, whatever the order and repetition of deliveries

_counter = iter(range(1, 10**9))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 20), st.integers(0, 5)),
            max_size=15,
        ),
        max_size=8,
    )
)
def test_any_delivery_order_with_repeats_stores_the_set_of_readings(
    storage: Store, batches: list[list[tuple[int, int, int]]]
) -> None:
    base = next(_counter) * 4  # fresh meters for each example, on the test's one database
    meters = [f"{base + k:012x}" for k in range(3)]
    total = 0
    first: dict[tuple[str, int], float] = {}
    for batch in batches:
        total += storage.add_readings([R(meters[m], t, float(v)) for m, t, v in batch])
        for m, t, v in batch:
            first.setdefault((meters[m], t), float(v))
    stored = {(r.meter, r.time): r.value for m in meters for r in storage.readings(m)}
    assert total == len(first) and stored == first


# URLs and failures


def test_storage_urls(tmp_path: Path) -> None:
    assert isinstance(open_storage("sqlite://"), SqliteStorage)
    assert open_storage("sqlite:///:memory:").path == ":memory:"
    assert open_storage(f"sqlite:///{tmp_path}/s.db").path == f"{tmp_path}/s.db"
    with pytest.raises(ConfigError, match="unknown storage URL"):
        open_storage("mysql://root@localhost/x")
    with pytest.raises(ConfigError, match=r"cannot connect to PostgreSQL at .*:\*\*\*@") as refused:
        open_storage("postgresql://nobody:secret@127.0.0.1:1/none?schema=x")
    assert "secret" not in str(refused.value)
    with pytest.raises(ConfigError, match="not an identifier"):
        open_storage('postgresql://x@127.0.0.1:1/none?schema=a";DROP')
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="cannot open the SQLite database"):
        open_storage(f"sqlite:///{tmp_path}/junk.db")


def test_a_closed_storage_raises_a_storage_error(storage: Store) -> None:
    storage.close()
    with pytest.raises(StorageUnavailable):
        storage.count_readings()


def test_postgresql_reconnects_after_losing_its_connection(tmp_path: Path) -> None:
    backend = Backend("postgresql", tmp_path)
    try:
        store = backend.open()
        assert isinstance(store, PostgresStorage)
        store.add_readings([R(M1, 1, 1.0)])
        pid = store._db.info.backend_pid
        killer = backend.open()
        backend.raw(killer, "SELECT pg_terminate_backend(?)", (pid,))
        with pytest.raises(StorageUnavailable):
            store.add_readings([R(M1, 2, 2.0)])
        assert store.add_readings([R(M1, 2, 2.0)]) == 1  # reconnected, same schema
        assert store.count_readings() == 2
    finally:
        backend.cleanup()


def test_events_of_other_processes_arrive_over_the_bus_and_garbage_is_ignored() -> None:
    from wattguard.clock import VirtualClock
    from wattguard.network.bus import EventPublisher, InProcessBus
    from wattguard.station import Station

    bus = InProcessBus()
    storage = SqliteStorage()
    station = Station(storage, bus, VirtualClock(1000.0))
    EventPublisher(bus, "fep").record(
        SecurityEvent(EventKind.FLOOD, "FEP-1 10.0.0.9:5000", "over the rate limit", 1000.0)
    )
    bus.publish("events.fep", b"not json")
    (stored,) = storage.events()
    # the stored event names the service whose subject it came on (issue #13, item 1)
    assert stored.kind == EventKind.FLOOD and stored.source == "fep: FEP-1 10.0.0.9:5000"
    assert storage.alerts(open_only=True)[0].rule == "flood"
    station.close()
