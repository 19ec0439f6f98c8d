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


KEY_COLUMNS = (
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
    " AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'readings'::regclass AND i.indisprimary"
    " ORDER BY array_position(i.indkey::int2[], a.attnum)"
)
INDEXES = "SELECT indexdef FROM pg_indexes WHERE tablename = 'readings' AND schemaname = ?"


def test_postgres_keys_the_readings_in_the_order_they_arrive(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    assert [name for (name,) in postgres.raw(store, KEY_COLUMNS)] == ["meter", "time", "quantity"]
    indexes = [d for (d,) in postgres.raw(store, INDEXES, (postgres.schema,))]
    # the primary key serves a meter's readings by time: no second index on (meter, time)
    assert not any('(meter, "time")' in d or "(meter, time)" in d for d in indexes), indexes
    assert len(indexes) == 3, indexes  # the key, the curve's partial index, the reading tail's


def test_version_15_reorders_the_key_and_keeps_every_reading(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    # the table as version 14 left it: key (meter, quantity, time) and a (meter, time) index
    for statement in (
        "ALTER TABLE readings DROP CONSTRAINT readings_pkey",
        "ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (meter, quantity, time)",
        "CREATE INDEX readings_meter_time ON readings (meter, time)",
        "DELETE FROM schema_version WHERE version = 15",
    ):
        postgres.raw(store, statement)
    rows = [*day_readings(DAY0), *day_readings(DAY0, M2), *day_readings(DAY0 + 1, M2)]
    rows += [Reading(M1, "20000201", DAY0 * DAY + k * 900, 220.0 + k) for k in range(4)]
    assert store.add_readings(rows) == len(rows)
    upgraded = postgres.open()
    assert isinstance(upgraded, PostgresStorage)
    assert upgraded.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    assert [n for (n,) in postgres.raw(upgraded, KEY_COLUMNS)] == ["meter", "time", "quantity"]
    assert len(postgres.raw(upgraded, INDEXES, (postgres.schema,))) == 3
    assert upgraded.count_readings() == len(rows)
    assert upgraded.add_readings(rows) == 0  # the key still refuses each one twice
    # a meter's readings, of one quantity and of all, come back as stored and in order
    assert upgraded.readings(M1, ENERGY) == day_readings(DAY0)
    everything = upgraded.readings(M1)
    assert everything == sorted(everything, key=lambda r: (r.time, r.quantity))
    assert len(everything) == 8


def test_the_upkeep_gives_the_planner_statistics_for_todays_curves(postgres: Backend) -> None:
    """A day's partition fills from nothing. Without statistics the planner reads one meter's
    curve through the curve's partial index, every meter's entries of the day; the upkeep's
    ANALYZE makes it take the primary key."""
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    curve = "50020200/00100201"
    meters = [f"{k:012d}" for k in range(1, 801)]
    rows = [
        (meter, quantity, DAY0 * DAY + 900 * step, float(step), None)
        for step in range(96)
        for meter in meters
        for quantity in (ENERGY, curve)
    ]
    for start in range(0, len(rows), 20_000):
        store.add_rows(rows[start : start + 20_000])
    query = (
        "EXPLAIN SELECT meter, quantity, time, value FROM readings WHERE meter = ? "
        "AND quantity = ? AND time >= ? AND time < ? ORDER BY time, quantity LIMIT 10000"
    )
    params = (meters[116], curve, DAY0 * DAY, (DAY0 + 1) * DAY)

    def plan() -> str:
        return "\n".join(line for (line,) in postgres.raw(store, query, params))

    assert "readings_curve" in plan() or "time_meter_value_quantity" in plan()  # unanalysed
    store.maintain(DAY0 * DAY + 3600.0)
    chosen = plan()
    assert "pkey" in chosen and "time_meter_value_quantity" not in chosen, chosen
    analysed = "SELECT reltuples FROM pg_class WHERE relname = ? AND relnamespace = ?::regnamespace"
    assert postgres.raw(store, analysed, (partition_name(DAY0), postgres.schema))[0][0] > 0
    got = store.readings(meters[116], curve, DAY0 * DAY, (DAY0 + 1) * DAY)
    assert [r.time for r in got] == [DAY0 * DAY + 900 * k for k in range(96)]
