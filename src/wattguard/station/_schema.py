"""The station database's schema as numbered migrations, applied at open.

Theory of operation. ``schema_version`` holds one row per migration applied. Opening a
database takes the writer's lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level
advisory lock, so that two station processes opening the same empty database at once do not
both create it), reads the highest version, refuses a database newer than this code, and
applies the missing migrations in order inside that one transaction: a failure leaves the
database as it was. Opening an up-to-date database changes nothing.

Version 1 is the schema of the first release, unchanged, so its databases upgrade in place.
Version 2 adds what the REST API and the monitor need: when a reading and an event were
received, the meter an event names (filled in for the events already stored), the meter's
class and state, and when an alert last matched (so that a restarted monitor keeps
de-duplicating and closing it). Version 3 adds the API's users (``station.users``): name,
role, the SM3 digest of their token (never the token), when they were made and disabled.
Version 4 adds the operational events; version 5 the station's rules and their firings
(:mod:`wattguard.station.rules`). Version 6 indexes the 15-minute curve's readings by time (a
partial index), for the fleet's aggregates (:mod:`wattguard.station._fleet_sql`). Version 7
partitions the readings by day on PostgreSQL (:mod:`wattguard.station.partitions`; the rows
already stored move into their days' partitions, the curve's index is made again on the
partitioned table); on SQLite it changes nothing. Version 8 adds the campaigns
(``station.campaigns``): firmware images (stored once, by their SM3 digest), campaigns, and
each meter's progress in one. Version 9 adds the analytics' tables
(``station.analysis_store``: each district's progress and state, each meter's day figures and
which time-of-use table split them, each district's daily loss, each meter's latest results,
the meters' own time-of-use tables and feeders). Version 10 records each district's supply
meter (:mod:`wattguard.station._district_sql`), filled in from the meters of class
``district`` a database already holds. Version 11 keeps the orderly-charging jobs' state across
a restart (:mod:`wattguard.station.charging_state`). Version 13 records, on PostgreSQL, the
transaction that stored each reading (``readings.txid``, ``pg_current_xact_id()``, indexed):
the leader follows the readings the ingest workers commit in commit order
(:mod:`wattguard.station.reading_tail`); rows stored before it have none. SQLite follows its
``rowid`` and changes nothing. Version 15 orders the readings' key on PostgreSQL as (meter,
time, quantity) and drops the (meter, time) index it makes redundant (see
:mod:`wattguard.station.partitions`); on SQLite it changes nothing.

Freezes (minute curves, daily records) are readings: their quantity carries the record object
(``50020200/00100201``) and their time is the freeze time (see
:mod:`wattguard.station.ingest`), so the same key stores each frozen value once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattguard.errors import ConfigError
from wattguard.station._district_sql import fill_supply_meters
from wattguard.station._fleet_sql import CURVE_INDEX
from wattguard.station.records import meter_of

# Any constant identifies the lock; this one spells "wattguard schema".
_PG_MIGRATION_LOCK = 0x7761_7474_5343_484D


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step of the schema: its SQL statements and, optionally, a function that
    fixes up the rows already stored (``then(cursor, sql)``)."""

    version: int
    statements: tuple[str, ...]  # ``{serial}`` is the dialect's identity column
    then: Callable[[Any, Callable[[str], str]], None] | None = None
    #: PostgreSQL's statements where they differ from ``statements`` (partitioning)
    postgres: tuple[str, ...] | None = None


def _fill_event_meters(cur: Any, sql: Callable[[str], str]) -> None:
    cur.execute("SELECT id, source FROM events WHERE meter IS NULL")
    pairs = [(meter_of(source), event_id) for event_id, source in cur.fetchall()]
    pairs = [(meter, event_id) for meter, event_id in pairs if meter is not None]
    if pairs:
        cur.executemany(sql("UPDATE events SET meter = ? WHERE id = ?"), pairs)


def _add_tariff_column(cur: Any, sql: Callable[[str], str]) -> None:
    """``analysis_day.tariff``, unless the table has it already (neither database has ``ADD
    COLUMN IF NOT EXISTS`` in common, and a failed statement would end PostgreSQL's
    transaction: the columns are read from an empty select instead)."""
    cur.execute("SELECT * FROM analysis_day WHERE 1 = 0")
    if "tariff" not in [column[0] for column in cur.description]:
        cur.execute("ALTER TABLE analysis_day ADD COLUMN tariff TEXT")


def _add_feeders_column(cur: Any, sql: Callable[[str], str]) -> None:
    """``analysis_loss.feeders``, unless the table has it already (the analysis tables are
    kept when an older database is migrated again: see :func:`_add_tariff_column`)."""
    cur.execute("SELECT * FROM analysis_loss WHERE 1 = 0")
    if "feeders" not in [column[0] for column in cur.description]:
        cur.execute("ALTER TABLE analysis_loss ADD COLUMN feeders TEXT")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            "CREATE TABLE meters (address TEXT PRIMARY KEY, terminal TEXT NOT NULL, "
            "registered DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE readings (meter TEXT NOT NULL, quantity TEXT NOT NULL, "
            "time BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (meter, quantity, time))",
            "CREATE TABLE events (id {serial}, time DOUBLE PRECISION NOT NULL, "
            "kind TEXT NOT NULL, source TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE INDEX events_kind_time ON events (kind, time)",
            "CREATE TABLE alerts (id {serial}, rule TEXT NOT NULL, severity TEXT NOT NULL, "
            "subject TEXT NOT NULL, opened DOUBLE PRECISION NOT NULL, "
            "closed DOUBLE PRECISION, count INTEGER NOT NULL, evidence TEXT NOT NULL)",
            "CREATE TABLE commands (id BIGINT PRIMARY KEY, kind TEXT NOT NULL, "
            "meters TEXT NOT NULL, issued_by TEXT NOT NULL, "
            "issued_at DOUBLE PRECISION NOT NULL, argument TEXT NOT NULL, "
            "state TEXT NOT NULL, approved_by TEXT, results TEXT NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE audit (seq BIGINT PRIMARY KEY, time DOUBLE PRECISION NOT NULL, "
            "action TEXT NOT NULL, detail TEXT NOT NULL, hash TEXT NOT NULL)",
        ),
    ),
    Migration(
        2,
        (
            "ALTER TABLE readings ADD COLUMN received DOUBLE PRECISION",
            "ALTER TABLE meters ADD COLUMN meter_class TEXT",
            "ALTER TABLE meters ADD COLUMN state TEXT NOT NULL DEFAULT 'active'",
            "ALTER TABLE meters ADD COLUMN state_changed DOUBLE PRECISION",
            "ALTER TABLE events ADD COLUMN meter TEXT",
            "ALTER TABLE events ADD COLUMN received DOUBLE PRECISION",
            "CREATE INDEX events_meter_time ON events (meter, time)",
            "ALTER TABLE alerts ADD COLUMN last DOUBLE PRECISION",
            "UPDATE alerts SET last = opened",
            "CREATE INDEX alerts_open ON alerts (closed)",
        ),
        then=_fill_event_meters,
    ),
    Migration(
        3,
        (
            "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
            "token_digest TEXT NOT NULL UNIQUE, created DOUBLE PRECISION NOT NULL, "
            "disabled DOUBLE PRECISION)",
        ),
    ),
    Migration(
        4,
        (
            # operational events (station.operations): beside the security events, not in them
            "CREATE TABLE operational_events (id {serial}, time DOUBLE PRECISION NOT NULL, "
            "kind TEXT NOT NULL, meter TEXT NOT NULL, detail TEXT NOT NULL, "
            "received DOUBLE PRECISION)",
            "CREATE INDEX operational_events_meter_time ON operational_events (meter, time)",
            "CREATE INDEX operational_events_kind_time ON operational_events (kind, time)",
        ),
    ),
    Migration(
        5,
        (
            # station rules (station.rules): condition and action as checked JSON; a deleted
            # rule keeps its row so that its firings, each with its evidence, still name it
            "CREATE TABLE rules (id {serial}, name TEXT NOT NULL, owner TEXT NOT NULL, "
            "condition TEXT NOT NULL, action TEXT NOT NULL, "
            "cooldown DOUBLE PRECISION NOT NULL, enabled INTEGER NOT NULL, "
            "created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL, "
            "deleted DOUBLE PRECISION)",
            "CREATE TABLE rule_firings (id {serial}, rule_id BIGINT NOT NULL, "
            "time DOUBLE PRECISION NOT NULL, subject TEXT NOT NULL, meters TEXT NOT NULL, "
            "district TEXT, evidence TEXT NOT NULL, outcome TEXT NOT NULL, command_id BIGINT)",
            "CREATE INDEX rule_firings_rule ON rule_firings (rule_id, id)",
        ),
    ),
    Migration(
        6,
        (
            # the fleet's aggregates over the 15-minute curve (station._fleet_sql): the fleet's
            # load per interval and the day's collection completeness, read from this index
            CURVE_INDEX,
        ),
    ),
    Migration(
        7,
        # SQLite: no partitions (a file holds one table); nothing changes
        (),
        postgres=(
            # readings partitioned by day (station.partitions); the table written by earlier
            # versions is moved into the partitions its days need
            "DROP INDEX IF EXISTS readings_curve",  # made again below, on the new table
            "ALTER TABLE readings RENAME CONSTRAINT readings_pkey TO readings_old_pkey",
            "ALTER TABLE readings RENAME TO readings_old",
            "CREATE TABLE readings (meter TEXT NOT NULL, quantity TEXT NOT NULL, "
            "time BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, received DOUBLE PRECISION, "
            "PRIMARY KEY (meter, quantity, time)) PARTITION BY RANGE (time)",
            "CREATE INDEX readings_meter_time ON readings (meter, time)",
            CURVE_INDEX,
            "DO $$ DECLARE d BIGINT; BEGIN "
            "FOR d IN SELECT DISTINCT time / 86400 FROM readings_old LOOP "
            "EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%s) TO (%s)', "
            "'readings_d' || d, "
            "d * 86400, (d + 1) * 86400); END LOOP; END $$",
            "INSERT INTO readings SELECT meter, quantity, time, value, received FROM readings_old",
            "DROP TABLE readings_old",
        ),
    ),
    Migration(
        8,
        (
            # campaigns (station.campaign_store): firmware images stored once, by SM3 digest
            "CREATE TABLE firmware_images (digest TEXT PRIMARY KEY, vendor TEXT NOT NULL, "
            "version TEXT NOT NULL, size INTEGER NOT NULL, image TEXT NOT NULL, "
            "uploaded_by TEXT NOT NULL, uploaded DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE campaigns (id BIGINT PRIMARY KEY, kind TEXT NOT NULL, "
            "target TEXT NOT NULL, payload TEXT NOT NULL, plan TEXT NOT NULL, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "state TEXT NOT NULL, wave INTEGER NOT NULL, waves INTEGER NOT NULL, "
            "reason TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE campaign_meters (campaign BIGINT NOT NULL, meter TEXT NOT NULL, "
            "wave INTEGER NOT NULL, step TEXT NOT NULL, next_block INTEGER NOT NULL, "
            "attempts INTEGER NOT NULL, next_try DOUBLE PRECISION NOT NULL, "
            "reported TEXT NOT NULL, detail TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (campaign, meter))",
        ),
    ),
    Migration(
        9,
        (
            # the analytics' results (station.analysis_store). IF NOT EXISTS: a database where
            # an earlier job made them outside the migrations keeps its rows; the version table
            # that job kept is no longer needed.
            "CREATE TABLE IF NOT EXISTS analysis_progress (district TEXT PRIMARY KEY, "
            "day BIGINT NOT NULL, state TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS analysis_day (meter TEXT NOT NULL, "
            "day BIGINT NOT NULL, district TEXT NOT NULL, energy DOUBLE PRECISION, "
            "source TEXT NOT NULL, missing INTEGER NOT NULL, peak DOUBLE PRECISION, "
            "peak_step INTEGER, night DOUBLE PRECISION, tou_peak DOUBLE PRECISION, "
            "tou_flat DOUBLE PRECISION, tou_valley DOUBLE PRECISION, score DOUBLE PRECISION, "
            "PRIMARY KEY (meter, day))",
            "CREATE TABLE IF NOT EXISTS analysis_loss (district TEXT NOT NULL, "
            "day BIGINT NOT NULL, supplied DOUBLE PRECISION, loss DOUBLE PRECISION, "
            "rate DOUBLE PRECISION, intervals INTEGER NOT NULL, PRIMARY KEY (district, day))",
            "CREATE TABLE IF NOT EXISTS analysis_meter (meter TEXT PRIMARY KEY, "
            "district TEXT NOT NULL, day BIGINT NOT NULL, cluster INTEGER, cluster_name TEXT, "
            "score DOUBLE PRECISION, error DOUBLE PRECISION)",
            "DROP TABLE IF EXISTS analysis_version",
            # a meter's own time-of-use table, when the station knows it: 96 characters, the
            # period (0 peak, 1 flat, 2 valley) of each 15-minute interval of the UTC day
            "CREATE TABLE IF NOT EXISTS analysis_tariff (meter TEXT PRIMARY KEY, "
            "steps TEXT NOT NULL)",
            # the low-voltage feeder a customer meter hangs on (the network record): the
            # balance fit models each feeder's I^2 R loss when all of a district's are known
            "CREATE TABLE IF NOT EXISTS analysis_feeder (meter TEXT PRIMARY KEY, "
            "feeder TEXT NOT NULL)",
        ),
        # which time-of-use table split each day: the meter's own or the station's default
        _add_tariff_column,
    ),
    Migration(
        10,
        (
            # each district's supply (total) meter, by its terminal (station._district_sql)
            "CREATE TABLE districts (terminal TEXT PRIMARY KEY, supply_meter TEXT NOT NULL, "
            "registered DOUBLE PRECISION NOT NULL)",
        ),
        then=fill_supply_meters,
    ),
    Migration(
        11,
        (
            # the orderly-charging jobs' state (station.charging_state), one row per district
            "CREATE TABLE charging_state (district TEXT PRIMARY KEY, "
            "saved_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL)",
        ),
    ),
    Migration(
        12,
        (
            # an operational event is one row from its start to its end (station._operations_sql):
            # the meter's event record number, and the end time its ending report gives
            "ALTER TABLE operational_events ADD COLUMN number BIGINT",
            "ALTER TABLE operational_events ADD COLUMN ended DOUBLE PRECISION",
            "CREATE INDEX operational_events_number ON operational_events (meter, kind, number)",
        ),
        postgres=(
            "ALTER TABLE operational_events ADD COLUMN IF NOT EXISTS number BIGINT",
            "ALTER TABLE operational_events ADD COLUMN IF NOT EXISTS ended DOUBLE PRECISION",
            "CREATE INDEX IF NOT EXISTS operational_events_number"
            " ON operational_events (meter, kind, number)",
        ),
    ),
    Migration(
        13,
        (),  # SQLite: the reading tail follows the rowid (one writer at a time)
        postgres=(
            # the storing transaction of each new reading (station.reading_tail). Added without
            # a default, then given one: no rewrite of the rows already stored (they keep NULL)
            "ALTER TABLE readings ADD COLUMN IF NOT EXISTS txid xid8",
            "ALTER TABLE readings ALTER COLUMN txid SET DEFAULT pg_current_xact_id()",
            "CREATE INDEX IF NOT EXISTS readings_txid ON readings (txid)",
        ),
    ),
    Migration(
        14,
        (),
        # where the balance fit's feeders came from that day: "records" (analysis_feeder),
        # "inferred" (from the customers' voltage curves) or "none" (one-feeder model)
        _add_feeders_column,
    ),
    Migration(
        15,
        (),  # SQLite: the key stays (meter, quantity, time); its readings do not grow to this
        postgres=(
            # the readings' key in the order they arrive in: a meter's values of one time are
            # written together, so they go to one place of the index, not one per quantity;
            # it serves a meter's readings by time too, so the (meter, time) index goes
            # (station.partitions, "Which query uses which index")
            "DROP INDEX IF EXISTS readings_meter_time",
            "ALTER TABLE readings DROP CONSTRAINT IF EXISTS readings_pkey",
            "ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (meter, time, quantity)",
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(cur: Any, serial: str, sql: Callable[[str], str], postgres: bool) -> list[int]:
    """Bring the schema up to :data:`SCHEMA_VERSION` inside the caller's transaction; the
    versions applied (none if it was up to date)."""
    if postgres:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    cur.execute("SELECT MAX(version) FROM schema_version")
    current = cur.fetchone()[0] or 0
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"this database has schema version {current}; this wattguard knows up to "
            f"{SCHEMA_VERSION}: upgrade wattguard"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        statements = migration.statements
        if postgres and migration.postgres is not None:
            statements = migration.postgres
        for statement in statements:
            cur.execute(statement.format(serial=serial))
        if migration.then is not None:
            migration.then(cur, sql)
        cur.execute(sql("INSERT INTO schema_version (version) VALUES (?)"), (migration.version,))
        applied.append(migration.version)
    return applied
