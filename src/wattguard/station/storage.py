"""The master station's storage: one interface, SQLite by default, PostgreSQL for a real site.

Theory of operation. :func:`open_storage` takes a URL (``sqlite:///path/station.db``,
``sqlite://`` for memory, ``postgresql://user@host/db``, optionally ``?schema=name``) and
gives a :class:`Storage`. Both backends share the SQL (:mod:`wattguard.station._sql`) and the
numbered migrations (:mod:`wattguard.station._schema`), and differ only where the databases
do: identity columns, locking, and bulk loading (SQLite inserts a batch with one prepared
statement; PostgreSQL copies it into a temporary table and inserts from there).

Guarantees, the same on both backends (tests/station/test_station_storage.py runs one suite
against each):

* a reading is stored once: its key is (meter, quantity, time), and a re-delivered reading is
  ignored (``add_readings`` returns how many were new), so a terminal sending a batch again
  after a lost acknowledgement duplicates nothing;
* each call is one transaction: a batch is stored whole or not at all, whether it fails on a
  bad row (checked before any SQL runs: :class:`InvalidRecord` with the row's index), in the
  database, or because the process dies half way;
* the schema carries its version; opening applies what is missing, idempotently, and refuses
  a database written by a newer wattguard;
* every value travels as a query parameter, never inside the SQL text;
* meters are listed a page at a time (:meth:`~SqlStorage.meters_page`: keyset paging on the
  address, a prefix search as a range of the primary key), and :meth:`~SqlStorage.latest`
  takes the meters whose latest readings are wanted, so a page of a large fleet costs a page
  (its counts, :meth:`~SqlStorage.count_meters`, walk the index of the meters they count);
* driver errors come out as :class:`StorageError` (:class:`InvalidRecord` for a row the
  database refused, :class:`StorageUnavailable` for a database that failed or went away; the
  PostgreSQL backend reconnects on the next call).

One object serialises its calls with a lock, so the runtime may share it between threads; a
SQLite file commits each transaction durably (``synchronous=FULL`` in WAL mode) unless
``durable=False`` trades the last transactions before a power cut for speed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.secretfile import SECRET_MODE, check_secret, create_secret
from wattguard.station._commit_thread import CommitThread
from wattguard.station._copy import INCOMING, insert_readings
from wattguard.station._schema import SCHEMA_VERSION
from wattguard.station._sql import MAX_PAGE, Chain, SqlStorage
from wattguard.station.commands import Command
from wattguard.station.ingest import Reading
from wattguard.station.partitions import (
    create_partition,
    day_of,
    days_of,
    partition_day,
    partition_name,
)
from wattguard.station.records import (
    Alert,
    AuditRow,
    InvalidRecord,
    MeterRecord,
    MeterState,
    OperationalEvent,
    OperationalKind,
    ReadingRow,
    StorageError,
    StorageUnavailable,
    StoredEvent,
    UserRecord,
    moment,
)
from wattguard.station.rules import Firing, Rule

__all__ = [
    "MAX_PAGE",
    "SCHEMA_VERSION",
    "Alert",
    "AuditRow",
    "InvalidRecord",
    "MeterRecord",
    "MeterState",
    "PostgresStorage",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredEvent",
    "UserRecord",
    "open_storage",
]

log = logging.getLogger(__name__)

# Any constant identifies the lock; this one spells "wattguard parts".
_PARTITION_LOCK = 0x7761_7474_5041_5254

_INSERT_READING = (
    "INSERT INTO readings (meter, quantity, time, value, received) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


class Storage(Protocol):
    """What the station, its monitor, audit trail and API need from a database."""

    def add_readings(self, readings: Iterable[Reading], received: float | None = None) -> int: ...
    def add_rows(self, rows: list[ReadingRow]) -> int: ...
    def drop_readings_before(self, time: float) -> list[int]: ...
    def maintain(self, now: float, retain_days: int | None = None) -> list[int]: ...
    def readings(
        self,
        meter: str,
        quantity: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 10_000,
        *,
        before: tuple[int, str] | None = None,
    ) -> list[Reading]: ...
    def latest(self, quantity: str, meters: Iterable[str] | None = None) -> list[Reading]: ...
    def count_readings_of(self, quantity: str) -> int: ...
    def count_readings(self) -> int: ...
    def register_meter(
        self, address: str, terminal: str, now: float, meter_class: str | None = None
    ) -> None: ...
    def register_meters(self, rows: Sequence[tuple[str, str, str | None]], now: float) -> None: ...
    def remove_meter(self, address: str) -> bool: ...
    def meters(self) -> list[tuple[str, str]]: ...
    def meters_page(
        self, prefix: str = "", after: str | None = None, limit: int = 100
    ) -> list[tuple[str, str]]: ...
    def count_meters(self, prefix: str = "", *, upto: str | None = None) -> int: ...
    def meter(self, address: str) -> MeterRecord | None: ...
    def interval_totals(
        self, start: int, end: int, interval: int
    ) -> list[tuple[int, float, int]]: ...
    def arrived_per_terminal(self, start: int, end: int) -> dict[str, int]: ...
    def meters_per_terminal(self) -> dict[str, int]: ...
    def registered_since(self, since: float) -> list[tuple[str, float]]: ...
    def meters_of(self, terminal: str) -> list[str]: ...
    def set_supply_meter(self, terminal: str, meter: str, now: float) -> None: ...
    def supply_meters(self) -> dict[str, str]: ...
    def set_meter_state(self, address: str, state: MeterState, now: float) -> None: ...
    def add_event(self, event: SecurityEvent, received: float | None = None) -> int: ...
    def update_event(self, event_id: int, detail: str, received: float | None = None) -> None: ...
    def events(
        self,
        kind: EventKind | None = None,
        source: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        *,
        meter: str | None = None,
        until: float | None = None,
    ) -> list[StoredEvent]: ...
    def count_events(self) -> int: ...
    def add_operational_event(
        self, event: OperationalEvent, received: float | None = None
    ) -> int: ...
    def end_operational_event(
        self, meter: str, kind: OperationalKind, number: int, ended: float
    ) -> int | None: ...
    def operational_events(
        self,
        kind: OperationalKind | None = None,
        meter: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[OperationalEvent]: ...
    def open_alert(
        self, rule: str, severity: str, subject: str, now: float, evidence: str
    ) -> int: ...
    def bump_alert(self, alert_id: int, evidence: str, now: float | None = None) -> None: ...
    def close_alert(self, alert_id: int, now: float) -> None: ...
    def alerts(self, open_only: bool = False, limit: int = 1000) -> list[Alert]: ...
    def save_command(self, command: Command) -> None: ...
    def command(self, command_id: int) -> Command | None: ...
    def commands(self, limit: int = 1000) -> list[Command]: ...
    def save_user(self, user: UserRecord) -> None: ...
    def user(self, name: str) -> UserRecord | None: ...
    def user_by_token(self, token_digest: str) -> UserRecord | None: ...
    def users(self) -> list[UserRecord]: ...
    def append_audit(self, time: float, action: str, detail: str, chain: Chain) -> AuditRow: ...
    def append_audits(
        self, time: float, entries: Sequence[tuple[str, str]], chain: Chain
    ) -> list[AuditRow]: ...
    def save_rule(self, rule: Rule) -> int: ...
    def delete_rule(self, rule_id: int, now: float) -> bool: ...
    def stored_rules(self) -> list[Rule]: ...
    def add_firing(self, firing: Firing) -> int: ...
    def firings(self, rule_id: int | None = None, limit: int = 100) -> list[Firing]: ...
    def last_firings(self) -> list[tuple[int, str, float]]: ...
    def audit(self) -> list[AuditRow]: ...
    def save_charging(self, district: str, saved_at: float, state: dict[str, Any]) -> None: ...
    def charging_states(self) -> dict[str, tuple[float, dict[str, Any]]]: ...
    def schema_versions(self) -> list[int]: ...
    def close(self) -> None: ...


@contextmanager
def _translated(
    invalid: tuple[type[BaseException], ...],
    failed: tuple[type[BaseException], ...],
    where: str,
) -> Iterator[None]:
    try:
        yield
    except invalid as exc:
        raise InvalidRecord(f"{where} refused the row: {exc}") from exc
    except failed as exc:
        raise StorageUnavailable(f"{where} failed: {exc}") from exc


class SqliteStorage(SqlStorage):
    """SQLite (the standard library's sqlite3) in WAL mode; one connection, one writer."""

    def __init__(self, path: str = ":memory:", *, durable: bool = True) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._committer = CommitThread("sqlite-commit")
        if path != ":memory:":
            _private_database(path)
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._migrate()
        except (sqlite3.Error, StorageError) as exc:
            raise ConfigError(f"cannot open the SQLite database {path}: {exc}") from None

    def _errors(self) -> Any:
        return _translated(
            (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError),
            (sqlite3.Error,),
            f"SQLite database {self.path}",
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._errors():
            self._committer.settle()
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._errors():
            self._committer.settle()
            yield self._db.cursor()

    def begin_rows(self, rows: list[ReadingRow]) -> concurrent.futures.Future[int]:
        """Store checked rows in one transaction, as :meth:`add_rows`, but commit it on the
        storage's writer thread (:mod:`wattguard.station._commit_thread`): the rows are
        inserted now (a row the database refuses raises here, and nothing is stored); the
        future gives how many were new once the commit returned, or the StorageError that
        ended it. Any other call waits for that commit first."""
        with self._lock, self._errors():
            self._committer.settle()
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                new = self._insert_readings(cur, rows)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return self._committer.submit(lambda: self._commit(new))

    def _commit(self, new: int) -> int:
        """The writer thread's part of :meth:`begin_rows`."""
        with self._errors():
            try:
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return new

    def _insert_readings(self, cur: Any, rows: list[ReadingRow]) -> int:
        before = self._db.total_changes
        cur.executemany(_INSERT_READING, rows)
        return self._db.total_changes - before

    def close(self) -> None:
        with self._lock:
            self._committer.close()
            self._db.close()


class PostgresStorage(SqlStorage):
    """PostgreSQL through psycopg 3 (the ``postgres`` extra); ``schema`` keeps a deployment's
    tables in their own schema (tests use one each)."""

    _serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    _postgres = True

    def __init__(self, url: str, schema: str | None = None) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "PostgreSQL needs psycopg: pip install 'wattguard[postgres]'"
            ) from None
        if schema is not None and not (schema.isidentifier() and schema.isascii()):
            raise ConfigError(f"schema name {schema!r} is not an identifier")
        self._psycopg = psycopg
        self.url = url
        self.schema = schema
        self._lock = threading.RLock()
        self._closed = False
        self._days: set[int] | None = None
        self._committer = CommitThread("postgres-commit")
        self._db = self._connect()
        try:
            self._migrate()
        except StorageError as exc:
            self._db.close()
            raise ConfigError(f"cannot prepare PostgreSQL at {_safe(url)}: {exc}") from None

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            db = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            if self.schema is not None:
                # an identifier cannot be a parameter; it was checked to be one above
                db.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                db.execute(f'SET search_path TO "{self.schema}"')
            db.execute(INCOMING)  # once a session, outside any transaction (station._copy)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {_safe(self.url)}: {exc}") from None
        return db

    def _errors(self) -> Any:
        errors = self._psycopg.errors
        return _translated(
            (errors.IntegrityError, errors.DataError),
            (self._psycopg.Error,),
            f"PostgreSQL at {_safe(self.url)}",
        )

    def _connection(self) -> Any:
        if self._closed:
            raise StorageUnavailable(f"the storage at {_safe(self.url)} was closed")
        if self._db.broken or self._db.closed:
            self._db = self._reconnect()
        return self._db

    def _reconnect(self) -> Any:
        """A new connection, or StorageUnavailable (the server went away since the start)."""
        try:
            return self._connect()
        except ConfigError as exc:
            raise StorageUnavailable(str(exc)) from None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock, self._errors():
            self._committer.settle()
            db = self._connection()
            with db.transaction(), db.cursor() as cur:
                yield cur

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock, self._errors():
            self._committer.settle()
            with self._connection().cursor() as cur:
                yield cur

    def begin_rows(self, rows: list[ReadingRow]) -> concurrent.futures.Future[int]:
        """:meth:`SqliteStorage.begin_rows` on PostgreSQL: the rows are copied and inserted
        now (their days' partitions made first), the COMMIT (the server's log flush and the
        round trip) waits on the storage's writer thread."""
        self._prepare_days(days_of(row[2] for row in rows))
        with self._lock, self._errors():
            self._committer.settle()
            db = self._connection()
            db.execute("BEGIN")
            try:
                with db.cursor() as cur:
                    new = insert_readings(cur, rows)
            except BaseException:
                if not db.broken and not db.closed:
                    db.execute("ROLLBACK")
                self._days = None  # a partition another process dropped: looked up again
                raise
            return self._committer.submit(lambda: self._commit(db, new))

    def _commit(self, db: Any, new: int) -> int:
        """The writer thread's part of :meth:`begin_rows`."""
        with self._errors():
            try:
                db.execute("COMMIT")
            except BaseException:
                if not db.broken and not db.closed:
                    db.execute("ROLLBACK")
                raise
        return new

    def _insert_readings(self, cur: Any, rows: list[ReadingRow]) -> int:
        return insert_readings(cur, rows)  # COPY of one text buffer, one INSERT (station._copy)

    # partitions (station.partitions)

    def add_rows(self, rows: list[ReadingRow]) -> int:
        """Store checked rows in one transaction, their days' partitions made first; how many
        were new."""
        if not rows:
            return 0
        days = days_of(row[2] for row in rows)
        self._prepare_days(days)
        try:
            return super().add_rows(rows)
        except InvalidRecord:
            # "no partition for the row": another process may have dropped a partition this
            # one remembered; look again and try once more (the failed transaction stored
            # nothing). A lost connection is not retried here: it raises StorageUnavailable.
            self._days = None
            self._prepare_days(days)
            return super().add_rows(rows)

    def _prepare_days(self, days: set[int]) -> None:
        missing = days - self.partitions()
        if not missing:
            return
        with self._write() as cur:
            # one creator at a time, whatever the number of processes; IF NOT EXISTS skips
            # the days another one made meanwhile
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
            for day in sorted(missing):
                cur.execute(create_partition(day))
        self.partitions().update(missing)

    def _refresh_statistics(self, days: set[int]) -> None:
        """``ANALYZE`` the partitions of ``days`` that exist, on a connection of its own (the
        ingest's is not held up while the server samples). A day's partition fills from
        nothing in a day, and the planner chooses between the primary key and the curve's
        partial index by its statistics: with none, or a morning's, it can take the partial
        index for one meter's curve and read the whole day's (``station.partitions``). The
        server's autovacuum does this too where it runs, but it may not (it is a setting),
        and it never analyses the partitioned table's parent."""
        wanted = sorted(day for day in days if day in self.partitions())
        if not wanted:
            return
        db = self._reconnect()
        with self._errors():
            try:
                for day in wanted:
                    db.execute(f'ANALYZE "{partition_name(day)}"')
            finally:
                db.close()

    def partitions(self) -> set[int]:
        """The days the readings table has a partition for (remembered; looked up again after
        a failed write or a retention run)."""
        if self._days is None:
            rows = self._query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'readings'::regclass"
            )
            found = (partition_day(name) for (name,) in rows)
            self._days = {day for day in found if day is not None}
        return self._days

    def drop_readings_before(self, time: float) -> list[int]:
        """Drop the partitions of every whole day before the day ``time`` falls in; those
        days."""
        cutoff = day_of(moment(time, "cutoff"))
        self._days = None
        with self._write() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
            days = sorted(day for day in self.partitions() if day < cutoff)
            for day in days:
                cur.execute(f'DROP TABLE "{partition_name(day)}"')
        self._days = None
        return days

    def _lock_audit(self, cur: Any) -> None:
        # SHARE ROW EXCLUSIVE conflicts with itself: appenders queue, readers do not wait.
        cur.execute("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE")

    def drop(self) -> None:
        """Drop this storage's schema and everything in it (tests)."""
        if self.schema is not None:
            with self._lock:
                self._committer.settle()
                self._connection().execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        with self._lock:
            self._committer.close()
            self._closed = True
            self._db.close()


def _private_database(path: str) -> None:
    """Make the SQLite file 0600 before SQLite opens it (SQLite gives its ``-wal`` and ``-shm``
    files the database's mode); an existing database, or companion, that group or others can
    write is refused, one they can read is made 0600 (files of earlier versions were 0644)."""
    try:
        create_secret(path)
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            if os.path.exists(name) and os.stat(name).st_mode & 0o077:
                check_secret(name)  # refuses group- or other-writable
                os.chmod(name, SECRET_MODE)
                log.warning("%s was readable by group or others: now 0600", name)
    except OSError as exc:
        raise ConfigError(f"cannot open the SQLite database {path}: {exc}") from None


def _safe(url: str) -> str:
    parts = urlparse(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def open_storage(url: str) -> SqliteStorage | PostgresStorage:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` (memory) or
    ``postgresql://...`` (``postgres://`` too), where ``?schema=name`` picks a schema."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        return SqliteStorage(path or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlparse(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((value for key, value in query if key == "schema"), None)
        rest = urlencode([(key, value) for key, value in query if key != "schema"])
        return PostgresStorage(urlunparse(parts._replace(query=rest)), schema=schema)
    raise ConfigError(
        f"unknown storage URL {_safe(url)!r}: use sqlite:///station.db or postgresql://..."
    )
