"""Readings by day: PostgreSQL's partitions made on demand and ahead, retention by dropping
them (SQLite deletes the same days' rows), an unpartitioned table migrated with its rows."""

from __future__ import annotations

import pytest

from wattguard.station._schema import MIGRATIONS, SCHEMA_VERSION
from wattguard.station.ingest import Reading
from wattguard.station.partitions import AHEAD, DAY, partition_day, partition_name
from wattguard.station.storage import InvalidRecord, PostgresStorage
from wattguard.testing.storage import Backend, undo_after

M1, M2 = "000000000001", "000000000002"
ENERGY = "00100201"
DAY0 = 20_000  # 2024-10-04


def day_readings(day: int, meter: str = M1, n: int = 4) -> list[Reading]:
    return [Reading(meter, ENERGY, day * DAY + k * 900, float(k)) for k in range(n)]


def where(backend: Backend, store: PostgresStorage) -> dict[str, int]:
    """How many readings each partition holds, as PostgreSQL routed them."""
    rows = backend.raw(store, "SELECT tableoid::regclass::text, COUNT(*) FROM readings GROUP BY 1")
    return {name.strip('"'): int(n) for name, n in rows}


def test_names_and_days() -> None:
    assert partition_name(DAY0) == "readings_d20000"
    assert partition_day("readings_d20000") == DAY0
    assert partition_day("readings_old") is None and partition_day("readings_d") is None


def test_each_day_gets_its_partition_when_a_batch_needs_it(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage) and store.partitions() == set()
    batch = [*day_readings(DAY0), *day_readings(DAY0 + 1), *day_readings(DAY0 + 7)]
    assert store.add_readings(batch) == 12
    assert store.partitions() == {DAY0, DAY0 + 1, DAY0 + 7}
    assert where(postgres, store) == {partition_name(d): 4 for d in (DAY0, DAY0 + 1, DAY0 + 7)}
    # redelivered: the key holds inside the partitioned table too
    assert store.add_readings(batch) == 0 and store.count_readings() == 12
    # a second station process sees the partitions the first one made
    other = postgres.open()
    assert isinstance(other, PostgresStorage) and other.partitions() == store.partitions()
    assert other.add_readings(day_readings(DAY0 + 1, M2)) == 4


def test_the_days_ahead_are_made_before_their_readings_arrive(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    assert store.maintain(DAY0 * DAY + 3600.0) == []
    assert store.partitions() == set(range(DAY0, DAY0 + AHEAD + 1))


def test_retention_drops_whole_days_and_keeps_the_rest(backend: Backend) -> None:
    store = backend.open()
    for day in range(DAY0, DAY0 + 5):
        store.add_readings(day_readings(day))
    now = (DAY0 + 4) * DAY + 5000.0  # during the fifth day
    assert store.maintain(now, retain_days=2) == [DAY0, DAY0 + 1]
    assert store.count_readings() == 12
    assert {r.time // DAY for r in store.readings(M1)} == {DAY0 + 2, DAY0 + 3, DAY0 + 4}
    if isinstance(store, PostgresStorage):
        assert min(store.partitions()) == DAY0 + 2
        tables = backend.raw(store, "SELECT tablename FROM pg_tables WHERE tablename = ?",
                             (partition_name(DAY0),))  # fmt: skip
        assert tables == []  # dropped, not emptied
    assert store.maintain(now, retain_days=2) == []
    with pytest.raises(InvalidRecord):
        store.maintain(now, retain_days=-1)


def test_a_day_dropped_by_another_process_is_made_again(postgres: Backend) -> None:
    first, second = postgres.open(), postgres.open()
    assert isinstance(first, PostgresStorage)
    first.add_readings(day_readings(DAY0))
    assert second.drop_readings_before((DAY0 + 1) * DAY) == [DAY0]
    assert DAY0 in first.partitions()  # remembered, but gone
    assert first.add_readings(day_readings(DAY0, M2)) == 4
    assert first.count_readings() == 4


def test_an_unpartitioned_readings_table_is_migrated_with_its_rows(postgres: Backend) -> None:
    store = postgres.open()
    # the tables of the migrations after the partitioning (7) are made again
    for statement in undo_after(7):
        postgres.raw(store, statement)
    for table in ("readings", "schema_version"):
        postgres.raw(store, f"DROP TABLE {table} CASCADE")
    postgres.raw(store, "CREATE TABLE schema_version (version INTEGER NOT NULL)")
    postgres.raw(store, "CREATE TABLE readings (meter TEXT NOT NULL, quantity TEXT NOT NULL, "
                 "time BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, received DOUBLE "
                 "PRECISION, PRIMARY KEY (meter, quantity, time))")  # fmt: skip
    for version in range(1, 7):  # everything before the partitioning (version 7)
        postgres.raw(store, "INSERT INTO schema_version VALUES (?)", (version,))
    rows = [*day_readings(DAY0), *day_readings(DAY0 + 3, M2)]
    for r in rows:
        postgres.raw(store, "INSERT INTO readings VALUES (?, ?, ?, ?, 1.0)",
                     (r.meter, r.quantity, r.time, r.value))  # fmt: skip
    upgraded = postgres.open()
    assert isinstance(upgraded, PostgresStorage)
    assert upgraded.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    partitioned = "SELECT COUNT(*) FROM pg_partitioned_table WHERE partrelid = 'readings'::regclass"
    assert postgres.raw(upgraded, partitioned) == [(1,)]
    assert upgraded.partitions() == {DAY0, DAY0 + 3}
    assert upgraded.readings(M1) + upgraded.readings(M2) == rows
    assert upgraded.add_readings(rows) == 0  # the key survived the move


def test_sqlite_has_no_partitions_and_migration_7_changes_nothing_there() -> None:
    (seven,) = [m for m in MIGRATIONS if m.version == 7]
    assert seven.statements == () and seven.postgres
