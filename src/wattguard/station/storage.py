"""The master station's storage: one interface, SQLite by default, PostgreSQL for a real site.

Theory of operation. :func:`open_storage` takes a URL (``sqlite:///path/station.db``,
``sqlite://`` for memory, ``postgresql://user@host/db``) and gives a :class:`Storage`. Both
backends share the SQL (written with ``?`` placeholders; the PostgreSQL backend turns them
into ``%s``) and differ only where the databases do: identity columns, and bulk loading
(PostgreSQL copies a batch into a temporary table and inserts from there).

Guarantees:

* a reading is stored once: its key is (meter, quantity, time), and a re-delivered reading is
  ignored (``add_readings`` returns how many were new), so a terminal sending a batch again
  after a lost acknowledgement duplicates nothing;
* each call is one transaction: a batch is stored whole or not at all;
* the schema carries its version; opening applies what is missing, and refuses a database
  written by a newer wattguard;
* every value travels as a query parameter, never inside the SQL text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.station.commands import Command, CommandKind, CommandState
from wattguard.station.ingest import Reading

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "PostgresStorage",
    "SqliteStorage",
    "Storage",
    "StoredEvent",
    "open_storage",
]

SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meters (
    address TEXT PRIMARY KEY, terminal TEXT NOT NULL, registered DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
    meter TEXT NOT NULL, quantity TEXT NOT NULL, time BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL, PRIMARY KEY (meter, quantity, time));
CREATE TABLE IF NOT EXISTS events (
    id {serial}, time DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_kind_time ON events (kind, time);
CREATE TABLE IF NOT EXISTS alerts (
    id {serial}, rule TEXT NOT NULL, severity TEXT NOT NULL, subject TEXT NOT NULL,
    opened DOUBLE PRECISION NOT NULL, closed DOUBLE PRECISION, count INTEGER NOT NULL,
    evidence TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    id BIGINT PRIMARY KEY, kind TEXT NOT NULL, meters TEXT NOT NULL, issued_by TEXT NOT NULL,
    issued_at DOUBLE PRECISION NOT NULL, argument TEXT NOT NULL, state TEXT NOT NULL,
    approved_by TEXT, results TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY, time DOUBLE PRECISION NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL, hash TEXT NOT NULL);
"""

_INSERT_READING = (
    "INSERT INTO readings (meter, quantity, time, value) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    time: float
    kind: EventKind
    source: str
    detail: str


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule: str
    severity: str
    subject: str
    opened: float
    closed: float | None
    count: int
    evidence: str


class Storage(Protocol):
    def add_readings(self, readings: Sequence[Reading]) -> int: ...
    def readings(
        self,
        meter: str,
        quantity: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 10_000,
    ) -> list[Reading]: ...
    def latest(self, quantity: str) -> list[Reading]: ...
    def count_readings_of(self, quantity: str) -> int: ...
    def count_readings(self) -> int: ...
    def register_meter(self, address: str, terminal: str, now: float) -> None: ...
    def meters(self) -> list[tuple[str, str]]: ...
    def add_event(self, event: SecurityEvent) -> int: ...
    def events(
        self,
        kind: EventKind | None = None,
        source: str | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[StoredEvent]: ...
    def count_events(self) -> int: ...
    def open_alert(
        self, rule: str, severity: str, subject: str, now: float, evidence: str
    ) -> int: ...
    def bump_alert(self, alert_id: int, evidence: str) -> None: ...
    def close_alert(self, alert_id: int, now: float) -> None: ...
    def alerts(self, open_only: bool = False, limit: int = 1000) -> list[Alert]: ...
    def save_command(self, command: Command) -> None: ...
    def command(self, command_id: int) -> Command | None: ...
    def commands(self, limit: int = 1000) -> list[Command]: ...
    def append_audit(self, seq: int, time: float, action: str, detail: str, hash: str) -> None: ...
    def audit(self) -> list[tuple[int, float, str, str, str]]: ...
    def close(self) -> None: ...


class _SqlStorage:
    """The SQL both backends share; subclasses give the connection and the dialect."""

    _serial = "INTEGER PRIMARY KEY"

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _migrate(self) -> None:
        with self._transaction() as cur:
            for statement in _TABLES.format(serial=self._serial).split(";"):
                if statement.strip():
                    cur.execute(statement)
            cur.execute(self._sql("SELECT version FROM schema_version"))
            row = cur.fetchone()
            if row is None:
                cur.execute(self._sql("INSERT INTO schema_version VALUES (?)"), (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise ConfigError(
                    f"this database has schema version {row[0]}; this wattguard knows up to "
                    f"{SCHEMA_VERSION}: upgrade wattguard"
                )

    def _sql(self, sql: str) -> str:
        return sql

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    # readings

    def add_readings(self, readings: Sequence[Reading]) -> int:
        rows = [(r.meter, r.quantity, int(r.time), float(r.value)) for r in readings]
        if not rows:
            return 0
        with self._transaction() as cur:
            return self._insert_readings(cur, rows)

    def _insert_readings(self, cur: Any, rows: list[tuple[str, str, int, float]]) -> int:
        before = cur.connection.total_changes
        cur.executemany(_INSERT_READING, rows)
        return int(cur.connection.total_changes - before)

    def readings(
        self,
        meter: str,
        quantity: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        sql = "SELECT meter, quantity, time, value FROM readings WHERE meter = ?"
        params: list[Any] = [meter]
        if quantity is not None:
            sql += " AND quantity = ?"
            params.append(quantity)
        if start is not None:
            sql += " AND time >= ?"
            params.append(start)
        if end is not None:
            sql += " AND time < ?"
            params.append(end)
        sql += " ORDER BY time, quantity LIMIT ?"
        params.append(limit)
        return [Reading(m, q, int(t), float(v)) for m, q, t, v in self._query(sql, params)]

    def latest(self, quantity: str) -> list[Reading]:
        sql = (
            "SELECT r.meter, r.quantity, r.time, r.value FROM readings r JOIN "
            "(SELECT meter, MAX(time) AS t FROM readings WHERE quantity = ? GROUP BY meter) m "
            "ON r.meter = m.meter AND r.time = m.t WHERE r.quantity = ? ORDER BY r.meter"
        )
        rows = self._query(sql, (quantity, quantity))
        return [Reading(m, q, int(t), float(v)) for m, q, t, v in rows]

    def count_readings(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM readings")[0][0])

    def count_readings_of(self, quantity: str) -> int:
        return int(
            self._query("SELECT COUNT(*) FROM readings WHERE quantity = ?", (quantity,))[0][0]
        )

    # meters

    def register_meter(self, address: str, terminal: str, now: float) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO meters (address, terminal, registered) VALUES (?, ?, ?) "
                    "ON CONFLICT (address) DO UPDATE SET terminal = excluded.terminal"
                ),
                (address, terminal, now),
            )

    def meters(self) -> list[tuple[str, str]]:
        return [
            (a, t) for a, t in self._query("SELECT address, terminal FROM meters ORDER BY address")
        ]

    # security events and alerts

    def add_event(self, event: SecurityEvent) -> int:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO events (time, kind, source, detail) VALUES (?, ?, ?, ?) "
                    "RETURNING id"
                ),
                (event.at, event.kind.name, event.source, event.detail),
            )
            return int(cur.fetchone()[0])

    def events(
        self,
        kind: EventKind | None = None,
        source: str | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[StoredEvent]:
        sql = "SELECT id, time, kind, source, detail FROM events WHERE 1 = 1"
        params: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind.name)
        if source is not None:
            sql += " AND source LIKE ?"
            params.append(f"%{source}%")
        if since is not None:
            sql += " AND time >= ?"
            params.append(since)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [
            StoredEvent(int(i), float(t), EventKind[k], s, d)
            for i, t, k, s, d in self._query(sql, params)
        ]

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    def open_alert(self, rule: str, severity: str, subject: str, now: float, evidence: str) -> int:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO alerts (rule, severity, subject, opened, closed, count, evidence)"
                    " VALUES (?, ?, ?, ?, NULL, 1, ?) RETURNING id"
                ),
                (rule, severity, subject, now, evidence),
            )
            return int(cur.fetchone()[0])

    def bump_alert(self, alert_id: int, evidence: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE alerts SET count = count + 1, evidence = ? WHERE id = ?"),
                (evidence, alert_id),
            )

    def close_alert(self, alert_id: int, now: float) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE alerts SET closed = ? WHERE id = ? AND closed IS NULL"),
                (now, alert_id),
            )

    def alerts(self, open_only: bool = False, limit: int = 1000) -> list[Alert]:
        sql = "SELECT id, rule, severity, subject, opened, closed, count, evidence FROM alerts"
        if open_only:
            sql += " WHERE closed IS NULL"
        sql += " ORDER BY id DESC LIMIT ?"
        return [
            Alert(int(i), r, s, subj, float(o), None if c is None else float(c), int(n), e)
            for i, r, s, subj, o, c, n, e in self._query(sql, (limit,))
        ]

    # commands

    def save_command(self, command: Command) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO commands (id, kind, meters, issued_by, issued_at, argument, "
                    "state, approved_by, results, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                    "approved_by = excluded.approved_by, results = excluded.results, "
                    "updated_at = excluded.updated_at"
                ),
                (
                    command.id, command.kind.name, json.dumps(command.meters), command.issued_by,
                    command.issued_at, command.argument, command.state.name, command.approved_by,
                    json.dumps(command.results), command.updated_at,
                ),
            )  # fmt: skip

    def command(self, command_id: int) -> Command | None:
        rows = self._query(_SELECT_COMMANDS + " WHERE id = ?", (command_id,))
        return _command(rows[0]) if rows else None

    def commands(self, limit: int = 1000) -> list[Command]:
        return [
            _command(row)
            for row in self._query(_SELECT_COMMANDS + " ORDER BY id DESC LIMIT ?", (limit,))
        ]

    # audit

    def append_audit(self, seq: int, time: float, action: str, detail: str, hash: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO audit (seq, time, action, detail, hash) VALUES (?, ?, ?, ?, ?)"
                ),
                (seq, time, action, detail, hash),
            )

    def audit(self) -> list[tuple[int, float, str, str, str]]:
        rows = self._query("SELECT seq, time, action, detail, hash FROM audit ORDER BY seq")
        return [(int(s), float(t), a, d, h) for s, t, a, d, h in rows]


_SELECT_COMMANDS = (
    "SELECT id, kind, meters, issued_by, issued_at, argument, state, approved_by, results, "
    "updated_at FROM commands"
)


def _command(row: Sequence[Any]) -> Command:
    i, kind, meters, by, at, argument, state, approved, results, updated = row
    return Command(
        int(i), CommandKind[kind], tuple(json.loads(meters)), by, float(at), argument,
        CommandState[state], approved, tuple(tuple(r) for r in json.loads(results)),
        float(updated),
    )  # fmt: skip


class SqliteStorage(_SqlStorage):
    """SQLite (the standard library's sqlite3) in WAL mode; one connection, serialised."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the SQLite database {path}: {exc}") from None
        self._lock = threading.RLock()
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class PostgresStorage(_SqlStorage):
    """PostgreSQL through psycopg 3 (the ``postgres`` extra); ``schema`` keeps a deployment's
    tables in their own schema (tests use one each)."""

    _serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str, schema: str | None = None) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "PostgreSQL needs psycopg: pip install 'wattguard[postgres]'"
            ) from None
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {_safe(url)}: {exc}") from None
        self._lock = threading.RLock()
        self.schema = schema
        if schema is not None:
            if not schema.isidentifier():
                raise ConfigError(f"schema name {schema!r} is not an identifier")
            self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._db.execute(f'SET search_path TO "{schema}"')
        self._migrate()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            yield cur

    def _insert_readings(self, cur: Any, rows: list[tuple[str, str, int, float]]) -> int:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming (meter TEXT, quantity TEXT, time BIGINT, "
            "value DOUBLE PRECISION) ON COMMIT DELETE ROWS"
        )
        with cur.copy("COPY incoming (meter, quantity, time, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "INSERT INTO readings SELECT DISTINCT ON (meter, quantity, time) * FROM incoming "
            "ON CONFLICT DO NOTHING"
        )
        return int(cur.rowcount)

    def drop(self) -> None:
        """Drop this storage's schema and everything in it (tests)."""
        if self.schema is not None:
            self._db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        self._db.close()


def _safe(url: str) -> str:
    parts = urlparse(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def open_storage(url: str) -> SqliteStorage | PostgresStorage:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` (memory) or
    ``postgresql://...``."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        return SqliteStorage(path or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStorage(url)
    raise ConfigError(
        f"unknown storage URL {_safe(url)!r}: use sqlite:///station.db or postgresql://..."
    )
