"""The analytics' tables come from the station's numbered migration 9, on SQLite and
PostgreSQL: a new database has them, one where an earlier job made them outside the
migrations keeps its rows, and the analysis store writes them through the SQL storage's
public transaction, which stores all of a day or nothing."""

from __future__ import annotations

import pytest

from wattguard.station._schema import MIGRATIONS, SCHEMA_VERSION
from wattguard.station.analysis_store import AnalysisStore, LossRow, MeterResult
from wattguard.station.records import StorageError
from wattguard.testing.storage import Backend, undo_after

DAY = 1_796_515_200
ANALYSIS = ("analysis_progress", "analysis_day", "analysis_loss", "analysis_meter")
# What the job made before the tables were a migration.
OLD_TABLES = (
    "CREATE TABLE analysis_version (version INTEGER NOT NULL)",
    "CREATE TABLE analysis_meter (meter TEXT PRIMARY KEY, district TEXT NOT NULL, "
    "day BIGINT NOT NULL, cluster INTEGER, cluster_name TEXT, score DOUBLE PRECISION, "
    "error DOUBLE PRECISION)",
    "CREATE TABLE analysis_day (meter TEXT NOT NULL, day BIGINT NOT NULL, "
    "district TEXT NOT NULL, energy DOUBLE PRECISION, source TEXT NOT NULL, "
    "missing INTEGER NOT NULL, peak DOUBLE PRECISION, peak_step INTEGER, "
    "night DOUBLE PRECISION, tou_peak DOUBLE PRECISION, tou_flat DOUBLE PRECISION, "
    "tou_valley DOUBLE PRECISION, score DOUBLE PRECISION, PRIMARY KEY (meter, day))",
    f"INSERT INTO analysis_day VALUES ('000001000002', {DAY}, '990000000001', 7.5, 'curve', 0, "
    "NULL, NULL, NULL, 1.0, 2.0, 4.5, NULL)",
    "INSERT INTO analysis_version VALUES (1)",
    f"INSERT INTO analysis_meter VALUES ('000001000002', '990000000001', {DAY}, 0, "
    "'evening peak', 3.5, -0.4)",
)


def test_migration_9_makes_the_analysis_tables(backend: Backend) -> None:
    assert [m.version for m in MIGRATIONS][-1] == SCHEMA_VERSION
    made = next(m for m in MIGRATIONS if any("analysis_day" in s for s in m.statements))
    storage = backend.open()
    assert made.version in storage.schema_versions()
    for table in ANALYSIS:
        assert storage.query(f"SELECT COUNT(*) FROM {table}") == [(0,)]


def test_tables_an_earlier_job_made_are_kept_with_their_rows(persistent: Backend) -> None:
    store = persistent.open()
    made = next(m for m in MIGRATIONS if any("analysis_day" in s for s in m.statements))
    for statement in undo_after(made.version - 1):  # its tables and the later ones
        persistent.raw(store, statement)
    persistent.raw(store, "DELETE FROM schema_version WHERE version >= ?", (made.version,))
    for statement in OLD_TABLES:
        persistent.raw(store, statement)
    upgraded = persistent.open()
    assert upgraded.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    (kept,) = AnalysisStore(upgraded).results()
    assert (kept.meter, kept.error, kept.cluster_name) == ("000001000002", -0.4, "evening peak")
    (day,) = AnalysisStore(upgraded).days("000001000002")  # the day table got its new column
    assert (day.energy, day.tou_valley, day.tariff) == (7.5, 4.5, None)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error: the table is gone
        persistent.raw(upgraded, "SELECT version FROM analysis_version")


def test_a_day_is_stored_whole_or_not_at_all(backend: Backend) -> None:
    store = AnalysisStore(backend.open())
    loss = LossRow("990000000001", DAY, 10.0, 0.5, 0.05, 96)
    result = MeterResult("000001000001", "990000000001", DAY, None, None, 1.0, 0.01)
    store.save_day("990000000001", DAY, "state", [], loss, [result])
    assert store.progress("990000000001") == (DAY, "state")
    # the same loss row again is ignored; a result naming a NULL district fails the whole day
    broken = MeterResult("000001000002", None, DAY, None, None, 1.0, 0.01)  # type: ignore[arg-type]
    with pytest.raises(StorageError):  # a NOT NULL column
        store.save_day("990000000001", DAY + 86400, "later", [], None, [broken])
    assert store.progress("990000000001") == (DAY, "state")
    assert [r.meter for r in store.results()] == ["000001000001"]
    assert [row.day for row in store.losses()] == [DAY]
