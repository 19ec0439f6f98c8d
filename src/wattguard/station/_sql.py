"""The SQL both storage backends share (written with ``?`` placeholders; the PostgreSQL backend
turns them into ``%s``). Every value is a parameter; the only text ever formatted into a
statement is a fixed column list, a dialect keyword chosen here, or a run of ``?``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from wattguard.events import EventKind, SecurityEvent
from wattguard.station import _schema
from wattguard.station._charging_sql import ChargingTables
from wattguard.station._district_sql import DistrictTables
from wattguard.station._fleet_sql import FleetQueries
from wattguard.station._operations_sql import OperationalTables, event_filter
from wattguard.station._rules_sql import RuleTables
from wattguard.station.commands import Command, CommandKind, CommandState
from wattguard.station.ingest import Reading
from wattguard.station.partitions import AHEAD, DAY, day_of
from wattguard.station.records import (
    Alert,
    AuditRow,
    InvalidRecord,
    MeterRecord,
    MeterState,
    ReadingRow,
    StoredEvent,
    UserRecord,
    meter_of,
    moment,
    normalise_meter,
    normalise_prefix,
    normalise_quantity,
    reading_rows,
    shown,
    text,
)

#: ``chain(previous hash, sequence, time, action, detail) -> hash`` (see station.audit)
Chain = Callable[[bytes, int, float, str, str], bytes]

_GENESIS = bytes(32)
_SELECT_COMMANDS = (
    "SELECT id, kind, meters, issued_by, issued_at, argument, state, approved_by, results, "
    "updated_at FROM commands"
)
_SELECT_ALERTS = (
    "SELECT id, rule, severity, subject, opened, closed, count, evidence, last FROM alerts"
)
# Each meter of m: one seek for its latest time, one for the reading.
_LATEST_OF_M = (
    "SELECT r.meter, r.quantity, r.time, r.value FROM m JOIN readings r"
    " ON r.meter = m.meter AND r.quantity = ? AND r.time = ("
    " SELECT MAX(time) FROM readings WHERE meter = m.meter AND quantity = ?) "
    "ORDER BY r.meter"
)
# A skip scan: walk the distinct meters through the primary key's index, one seek each,
# instead of reading the whole table.
_LATEST = (
    "WITH RECURSIVE m (meter) AS ("
    " SELECT MIN(meter) FROM readings"
    " UNION ALL SELECT (SELECT MIN(meter) FROM readings WHERE meter > m.meter)"
    " FROM m WHERE m.meter IS NOT NULL) " + _LATEST_OF_M
)
#: The most meters :meth:`SqlStorage.meters_page` answers at once, and that one query of
#: :meth:`SqlStorage.latest` names (longer lists take several).
MAX_PAGE = 1000
_HEX = "0123456789abcdef"
_SELECT_USERS = "SELECT name, role, token_digest, created, disabled FROM users"
_SELECT_EVENTS = "SELECT id, time, kind, source, detail, meter, received FROM events"


def _like(fragment: str) -> str:
    """A LIKE pattern matching ``fragment`` literally anywhere (escape character ``!``)."""
    escaped = fragment.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped.lower()}%"


class SqlStorage(RuleTables, FleetQueries, DistrictTables, ChargingTables, OperationalTables):
    """Subclasses give the connection (:meth:`_write`, :meth:`_read`), the dialect and bulk
    loading (:meth:`_insert_readings`)."""

    _serial = "INTEGER PRIMARY KEY"
    _postgres = False

    def _write(self) -> AbstractContextManager[Any]:
        """A cursor inside one write transaction, committed on success, rolled back on error,
        with driver errors translated to :class:`~wattguard.station.records.StorageError`."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _insert_readings(self, cur: Any, rows: list[ReadingRow]) -> int:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _migrate(self) -> list[int]:
        with self._write() as cur:
            return _schema.migrate(cur, self._serial, self._sql, self._postgres)

    # The public SQL access of the station's own modules that keep tables in the schema (the
    # analytics): statements written with ``?`` placeholders, every value a parameter.

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement (``?`` placeholders, ``params`` their values)."""
        with self._read() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One write transaction, committed when the block ends, rolled back on an error;
        driver errors come out as :class:`~wattguard.station.records.StorageError`."""
        with self._write() as cur:
            yield SqlTransaction(cur, self._sql)

    def schema_versions(self) -> list[int]:
        """The migrations applied to this database, in order."""
        return [int(v) for (v,) in self._query("SELECT version FROM schema_version ORDER BY 1")]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._write() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return cur.fetchone()

    # readings

    def add_readings(self, readings: Iterable[Reading], received: float | None = None) -> int:
        """Store a batch whole or not at all; how many were new (a reading already stored under
        the same meter, quantity and time is ignored, as is a repeat inside the batch)."""
        return self.add_rows(reading_rows(readings, received))

    def add_rows(self, rows: list[ReadingRow]) -> int:
        """Store rows already checked by :func:`~wattguard.station.records.reading_rows`
        (the group commit's path: each report is checked when it arrives, its batch written
        here) in one transaction; how many were new."""
        if not rows:
            return 0
        with self._write() as cur:
            return self._insert_readings(cur, rows)

    def readings(
        self,
        meter: str,
        quantity: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 10_000,
        *,
        before: tuple[int, str] | None = None,
    ) -> list[Reading]:
        """A meter's readings with ``start <= time < end``, by time; with ``before`` (a time
        and quantity: a page's cursor) the ones before it, newest first."""
        sql = "SELECT meter, quantity, time, value FROM readings WHERE meter = ?"
        params: list[Any] = [normalise_meter(meter)]
        if quantity is not None:
            sql += " AND quantity = ?"
            params.append(normalise_quantity(quantity))
        if start is not None:
            sql += " AND time >= ?"
            params.append(int(start))
        if end is not None:
            sql += " AND time < ?"
            params.append(int(end))
        if before is None:
            sql += " ORDER BY time, quantity LIMIT ?"
        else:
            sql += " AND (time < ? OR (time = ? AND quantity < ?))"
            sql += " ORDER BY time DESC, quantity DESC LIMIT ?"
            params += [int(before[0]), int(before[0]), normalise_quantity(before[1])]
        params.append(int(limit))
        return [Reading(m, q, int(t), float(v)) for m, q, t, v in self._query(sql, params)]

    def latest(self, quantity: str, meters: Iterable[str] | None = None) -> list[Reading]:
        """Each meter's latest reading of ``quantity``, by meter; with ``meters``, only those
        meters' (one without a reading is left out), two index seeks each, whatever the size
        of the fleet."""
        quantity = normalise_quantity(quantity)
        if meters is None:
            rows = self._query(_LATEST, (quantity, quantity))
        else:
            if isinstance(meters, str):
                raise InvalidRecord("meters must be a list of addresses, not one string")
            wanted = sorted({normalise_meter(m, i) for i, m in enumerate(meters)})
            rows = []
            for start in range(0, len(wanted), MAX_PAGE):
                chunk = wanted[start : start + MAX_PAGE]
                values = ", ".join(["(?)"] * len(chunk))
                sql = f"WITH m (meter) AS (VALUES {values}) " + _LATEST_OF_M
                rows += self._query(sql, (*chunk, quantity, quantity))
        return [Reading(m, q, int(t), float(v)) for m, q, t, v in rows]

    def count_readings(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM readings")[0][0])

    def count_readings_of(self, quantity: str) -> int:
        sql = "SELECT COUNT(*) FROM readings WHERE quantity = ?"
        return int(self._query(sql, (normalise_quantity(quantity),))[0][0])

    # retention (station.partitions)

    def drop_readings_before(self, time: float) -> list[int]:
        """Remove the readings of every whole day before the day ``time`` falls in (SQLite:
        deletes the rows; PostgreSQL drops the days' partitions); the days removed."""
        cutoff = day_of(moment(time, "cutoff")) * DAY
        with self._write() as cur:
            cur.execute(
                self._sql("SELECT DISTINCT time / 86400 FROM readings WHERE time < ?"), (cutoff,)
            )
            days = sorted(int(day) for (day,) in cur.fetchall())
            cur.execute(self._sql("DELETE FROM readings WHERE time < ?"), (cutoff,))
        return days

    def maintain(self, now: float, retain_days: int | None = None) -> list[int]:
        """The runtime's periodic upkeep: make ready the partitions of today and the
        :data:`~wattguard.station.partitions.AHEAD` next days and refresh the statistics of
        today's and yesterday's (PostgreSQL), and with
        ``retain_days`` remove the days before the last ``retain_days`` whole days (today is
        always kept); the days removed."""
        today = day_of(moment(now, "now"))
        self._prepare_days(set(range(today, today + AHEAD + 1)))
        self._refresh_statistics({today - 1, today})
        if retain_days is None:
            return []
        if isinstance(retain_days, bool) or not isinstance(retain_days, int) or retain_days < 0:
            raise InvalidRecord(f"retention {retain_days!r} is not a whole number of days >= 0")
        return self.drop_readings_before((today - retain_days) * DAY)

    def _prepare_days(self, days: set[int]) -> None:
        """Make sure readings of ``days`` can be stored (PostgreSQL: their partitions)."""

    def _refresh_statistics(self, days: set[int]) -> None:
        """Bring the planner's statistics of the readings of ``days`` up to date (PostgreSQL:
        the days being written; SQLite needs none)."""

    # meters

    def register_meter(
        self, address: str, terminal: str, now: float, meter_class: str | None = None
    ) -> None:
        """Add a meter, or move it to another terminal (its state and class are kept unless a
        class is given)."""
        self.register_meters([(address, terminal, meter_class)], now)

    def register_meters(self, rows: Sequence[tuple[str, str, str | None]], now: float) -> None:
        """:meth:`register_meter` for each (address, terminal, class) of ``rows``, in one
        transaction: an archive of a hundred thousand meters is one commit, not one each."""
        checked = [
            (
                normalise_meter(address),
                normalise_meter(terminal, what="terminal"),
                moment(now, "registration time"),
                text(meter_class, "meter class", optional=True),
            )
            for address, terminal, meter_class in rows
        ]
        if not checked:
            return
        with self._write() as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO meters (address, terminal, registered, meter_class) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET "
                    "terminal = excluded.terminal, "
                    "meter_class = COALESCE(excluded.meter_class, meters.meter_class)"
                ),
                checked,
            )

    def remove_meter(self, address: str) -> bool:
        """Take a meter out of the register (its readings, events and commands stay); whether
        it was there."""
        with self._write() as cur:
            cur.execute(
                self._sql("DELETE FROM meters WHERE address = ?"), (normalise_meter(address),)
            )
            return bool(cur.rowcount)

    def meters(self) -> list[tuple[str, str]]:
        """(address, terminal) of every meter, by address."""
        return [
            (a, t) for a, t in self._query("SELECT address, terminal FROM meters ORDER BY address")
        ]

    def meters_page(
        self, prefix: str = "", after: str | None = None, limit: int = 100
    ) -> list[tuple[str, str]]:
        """(address, terminal) of the first ``limit`` meters (1 to :data:`MAX_PAGE`) by address
        whose address starts with ``prefix`` (hex digits, any case; ``""`` for all) and comes
        after ``after`` (a whole address: the last of the previous page). Keyset paging on the
        primary key: a page costs the same at the start and at the end of the fleet, and a
        meter registered meanwhile shifts no page. Terminals are not searched."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidRecord(f"page size {limit!r} is not a whole number from 1 to {MAX_PAGE}")
        where, params = _address_range(prefix, after=after)
        sql = "SELECT address, terminal FROM meters" + where + " ORDER BY address LIMIT ?"
        return [(a, t) for a, t in self._query(sql, (*params, limit))]

    def count_meters(self, prefix: str = "", *, upto: str | None = None) -> int:
        """How many meters' addresses start with ``prefix`` (and, with ``upto``, come no later
        than it: the number before the page that follows ``upto``)."""
        where, params = _address_range(prefix, upto=upto)
        return int(self._query("SELECT COUNT(*) FROM meters" + where, params)[0][0])

    def meter(self, address: str) -> MeterRecord | None:
        rows = self._query(
            "SELECT address, terminal, registered, meter_class, state, state_changed "
            "FROM meters WHERE address = ?",
            (normalise_meter(address),),
        )
        if not rows:
            return None
        a, t, registered, meter_class, state, changed = rows[0]
        return MeterRecord(
            a, t, float(registered), meter_class, MeterState(state),
            None if changed is None else float(changed),
        )  # fmt: skip

    def set_meter_state(self, address: str, state: MeterState, now: float) -> None:
        if not isinstance(state, MeterState):
            raise InvalidRecord(f"meter state {state!r} is not a MeterState")
        params = (state.value, moment(now, "state change time"), normalise_meter(address))
        with self._write() as cur:
            cur.execute(
                self._sql("UPDATE meters SET state = ?, state_changed = ? WHERE address = ?"),
                params,
            )
            if cur.rowcount != 1:
                raise InvalidRecord(f"no meter {address} is registered")

    # security events

    def add_event(self, event: SecurityEvent, received: float | None = None) -> int:
        """Store one security event; its id."""
        if not isinstance(event, SecurityEvent) or not isinstance(event.kind, EventKind):
            raise InvalidRecord(f"{event!r} is not a SecurityEvent")
        source = text(event.source, "event source")
        assert source is not None
        row = (
            moment(event.at, "event time"), event.kind.name, source,
            text(event.detail, "event detail"), meter_of(source),
            None if received is None else moment(received, "received time"),
        )  # fmt: skip
        found = self._one(
            "INSERT INTO events (time, kind, source, detail, meter, received) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            row,
        )
        return int(found[0])

    def update_event(self, event_id: int, detail: str, received: float | None = None) -> None:
        """A stored event's new detail (and received time): a repeated refusal counted in
        it (:meth:`~wattguard.station.monitor.SecurityMonitor.record_repeated`)."""
        params = (
            text(detail, "event detail"),
            None if received is None else moment(received, "received time"),
        )
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "UPDATE events SET detail = ?, received = COALESCE(?, received) WHERE id = ?"
                ),
                (*params, int(event_id)),
            )

    def events(
        self,
        kind: EventKind | None = None,
        source: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        *,
        meter: str | None = None,
        until: float | None = None,
    ) -> list[StoredEvent]:
        """Events, newest first; ``source`` matches anywhere in the source, case-insensitively,
        and literally (``%`` and ``_`` are not wildcards); ``since <= time < until``."""
        name = None if kind is None else EventKind(kind).name
        where, params = event_filter(name, meter, since, until, limit)
        if source is not None:
            where = " AND LOWER(source) LIKE ? ESCAPE '!'" + where
            params.insert(0, _like(source))
        sql = _SELECT_EVENTS + " WHERE 1 = 1" + where
        return [
            StoredEvent(int(i), float(t), EventKind[k], s, d, m, None if r is None else float(r))
            for i, t, k, s, d, m, r in self._query(sql, params)
        ]

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    # alerts

    def open_alert(self, rule: str, severity: str, subject: str, now: float, evidence: str) -> int:
        row = (
            text(rule, "rule"), text(severity, "severity"), text(subject, "subject"),
            moment(now, "time"), text(evidence, "evidence"), now,
        )  # fmt: skip
        found = self._one(
            "INSERT INTO alerts (rule, severity, subject, opened, closed, count, evidence, last)"
            " VALUES (?, ?, ?, ?, NULL, 1, ?, ?) RETURNING id",
            row,
        )
        return int(found[0])

    def bump_alert(self, alert_id: int, evidence: str, now: float | None = None) -> None:
        """One more match for an open alert: its count, latest evidence and time."""
        params = (text(evidence, "evidence"), None if now is None else moment(now, "time"))
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "UPDATE alerts SET count = count + 1, evidence = ?, "
                    "last = COALESCE(?, last) WHERE id = ?"
                ),
                (*params, int(alert_id)),
            )

    def close_alert(self, alert_id: int, now: float) -> None:
        with self._write() as cur:
            cur.execute(
                self._sql("UPDATE alerts SET closed = ? WHERE id = ? AND closed IS NULL"),
                (moment(now, "time"), int(alert_id)),
            )

    def alerts(self, open_only: bool = False, limit: int = 1000) -> list[Alert]:
        """Alerts, newest first."""
        sql = _SELECT_ALERTS + (" WHERE closed IS NULL" if open_only else "")
        sql += " ORDER BY id DESC LIMIT ?"
        return [
            Alert(int(i), r, s, subj, float(o), _opt(c), int(n), e, _opt(last))
            for i, r, s, subj, o, c, n, e, last in self._query(sql, (int(limit),))
        ]

    # commands

    def save_command(self, command: Command) -> None:
        """Insert a command, or update its state, approver and results."""
        if not isinstance(command, Command):
            raise InvalidRecord(f"{command!r} is not a Command")
        row = (
            command.id, command.kind.name, json.dumps(command.meters), command.issued_by,
            command.issued_at, command.argument, command.state.name, command.approved_by,
            json.dumps(command.results), command.updated_at,
        )  # fmt: skip
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO commands (id, kind, meters, issued_by, issued_at, argument, "
                    "state, approved_by, results, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                    "approved_by = excluded.approved_by, results = excluded.results, "
                    "updated_at = excluded.updated_at"
                ),
                row,
            )

    def command(self, command_id: int) -> Command | None:
        rows = self._query(_SELECT_COMMANDS + " WHERE id = ?", (int(command_id),))
        return _command(rows[0]) if rows else None

    def commands(self, limit: int = 1000) -> list[Command]:
        """Commands, newest first."""
        rows = self._query(_SELECT_COMMANDS + " ORDER BY id DESC LIMIT ?", (int(limit),))
        return [_command(row) for row in rows]

    # users

    def save_user(self, user: UserRecord) -> None:
        """Insert a user, or replace its role, token digest and disabled time (by name)."""
        if not isinstance(user, UserRecord):
            raise InvalidRecord(f"{user!r} is not a UserRecord")
        row = (
            _text(user.name, "name"), _text(user.role, "role"),
            _text(user.token_digest, "token digest"), moment(user.created, "created"),
            None if user.disabled is None else moment(user.disabled, "disabled"),
        )  # fmt: skip
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO users (name, role, token_digest, created, disabled) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                    "role = excluded.role, token_digest = excluded.token_digest, "
                    "disabled = excluded.disabled"
                ),
                row,
            )

    def user(self, name: str) -> UserRecord | None:
        rows = self._query(_SELECT_USERS + " WHERE name = ?", (str(name),))
        return UserRecord(*rows[0]) if rows else None

    def user_by_token(self, token_digest: str) -> UserRecord | None:
        rows = self._query(_SELECT_USERS + " WHERE token_digest = ?", (str(token_digest),))
        return UserRecord(*rows[0]) if rows else None

    def users(self) -> list[UserRecord]:
        return [UserRecord(*row) for row in self._query(_SELECT_USERS + " ORDER BY name")]

    # audit

    def _lock_audit(self, cur: Any) -> None:
        """Keep other appenders out until the transaction ends (SQLite's write transaction
        already does)."""

    def append_audit(self, time: float, action: str, detail: str, chain: Chain) -> AuditRow:
        """Append one entry chained to the stored head, atomically: two processes appending at
        once each chain to the other's entry, never fork the chain."""
        return self.append_audits(time, [(action, detail)], chain)[0]

    def append_audits(
        self, time: float, entries: Sequence[tuple[str, str]], chain: Chain
    ) -> list[AuditRow]:
        """:meth:`append_audit` for each (action, detail) of ``entries``, chained in order, in
        one transaction."""
        at = moment(time, "time")
        checked = [(_text(action, "action"), _text(detail, "detail")) for action, detail in entries]
        rows: list[AuditRow] = []
        if not checked:
            return rows
        with self._write() as cur:
            self._lock_audit(cur)
            cur.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            last = cur.fetchone()
            seq, head = (0, _GENESIS) if last is None else (last[0] + 1, bytes.fromhex(last[1]))
            for action, detail in checked:
                digest = chain(head, seq, at, action, detail)
                rows.append(AuditRow(seq, at, action, detail, digest.hex()))
                seq, head = seq + 1, digest
            cur.executemany(
                self._sql(
                    "INSERT INTO audit (seq, time, action, detail, hash) VALUES (?, ?, ?, ?, ?)"
                ),
                [tuple(row) for row in rows],
            )
        return rows

    def audit(self) -> list[AuditRow]:
        """The audit trail in sequence order."""
        rows = self._query("SELECT seq, time, action, detail, hash FROM audit ORDER BY seq")
        return [AuditRow(int(s), float(t), a, d, h) for s, t, a, d, h in rows]

    def close(self) -> None:
        raise NotImplementedError


class SqlTransaction:
    """The statements of one write transaction (:meth:`SqlStorage.transaction`), written with
    ``?`` placeholders whatever the database."""

    def __init__(self, cursor: Any, dialect: Callable[[str], str]) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement; its rows, if it returns any."""
        self._cursor.execute(self._dialect(sql), tuple(params))
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows``."""
        self._cursor.executemany(self._dialect(sql), [tuple(row) for row in rows])


def _address_range(
    prefix: str, *, after: str | None = None, upto: str | None = None
) -> tuple[str, list[str]]:
    """A WHERE clause on ``address`` and its parameters: a range of the primary key (an
    address starting with ``prefix`` sorts from ``prefix`` up to the prefix after it, since
    addresses are lower-case hex and the databases order 0-9 before a-f)."""
    prefix = normalise_prefix(prefix)
    clauses, params = [], []
    if prefix:
        clauses.append("address >= ?")
        params.append(prefix)
        stem = prefix.rstrip("f")  # "12f" -> "13", "ff" -> no upper bound
        if stem:
            clauses.append("address < ?")
            params.append(stem[:-1] + _HEX[_HEX.index(stem[-1]) + 1])
    for bound, operator in ((after, ">"), (upto, "<=")):
        if bound is not None:
            try:
                params.append(normalise_meter(bound))
            except InvalidRecord:
                raise InvalidRecord(
                    f"cursor {shown(bound)} is not an address (12 hex digits)"
                ) from None
            clauses.append(f"address {operator} ?")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: object, name: str) -> str:
    checked = text(value, name)
    assert checked is not None
    return checked


def _command(row: Sequence[Any]) -> Command:
    i, kind, meters, by, at, argument, state, approved, results, updated = row
    return Command(
        int(i), CommandKind[kind], tuple(json.loads(meters)), by, float(at), argument,
        CommandState[state], approved, tuple(tuple(r) for r in json.loads(results)),
        float(updated),
    )  # fmt: skip
