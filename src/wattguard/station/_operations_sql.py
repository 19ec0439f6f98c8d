"""The SQL of the operational events (:mod:`wattguard.station.operations`), mixed into both
storage backends, and the event filter the security events share.

A meter reports a power-quality event twice, as DL/T 698.45 event records are: when it starts
(end time NULL) and again when it ends (the same record number, now with its end time). The
station keeps one row per occurrence: the ending report fills in the row's ``ended``
(:meth:`OperationalTables.end_operational_event`) instead of adding a second one."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from wattguard.station.records import (
    InvalidRecord,
    OperationalEvent,
    OperationalKind,
    moment,
    normalise_meter,
    text,
)

_SELECT = "SELECT id, time, kind, meter, detail, received, number, ended FROM operational_events"


def event_filter(
    kind: str | None, meter: str | None, since: float | None, until: float | None, limit: int
) -> tuple[str, list[Any]]:
    """The ``AND ...`` clauses (then ``ORDER BY id DESC LIMIT ?``) and their parameters that
    select events by kind name, meter and ``since <= time < until``, newest first: one filter
    for the security and the operational events."""
    sql, params = "", []
    for clause, value in (
        ("kind = ?", kind),
        ("meter = ?", None if meter is None else normalise_meter(meter)),
        ("time >= ?", None if since is None else moment(since, "since")),
        ("time < ?", None if until is None else moment(until, "until")),
    ):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    return sql + " ORDER BY id DESC LIMIT ?", [*params, int(limit)]


def _number(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise InvalidRecord(f"{value!r} is no event record number (0 to 2^32 - 1)")
    return value


class OperationalTables:
    """Operational events; the backend gives the connection (``_one``, ``_query``)."""

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def add_operational_event(self, event: OperationalEvent, received: float | None = None) -> int:
        """Store one operational event; its id."""
        if not isinstance(event, OperationalEvent) or not isinstance(event.kind, OperationalKind):
            raise InvalidRecord(f"{event!r} is not an OperationalEvent")
        row = (
            moment(event.time, "event time"), event.kind.name, normalise_meter(event.meter),
            text(event.detail, "event detail"),
            None if received is None else moment(received, "received time"),
            _number(event.number),
            None if event.ended is None else moment(event.ended, "end time"),
        )  # fmt: skip
        found = self._one(
            "INSERT INTO operational_events (time, kind, meter, detail, received, number, ended)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            row,
        )
        return int(found[0])

    def end_operational_event(
        self, meter: str, kind: OperationalKind, number: int, ended: float
    ) -> int | None:
        """Record that ``meter``'s event ``number`` of ``kind`` ended at ``ended``: the id of
        the row it was stored under when it started, or None when the station has no such
        row (its start was never received: the caller stores the event whole)."""
        key = (normalise_meter(meter), OperationalKind(kind).name, _number(number))
        found = self._one(
            "UPDATE operational_events SET ended = ? WHERE id = (SELECT MAX(id) FROM"
            " operational_events WHERE meter = ? AND kind = ? AND number = ?) RETURNING id",
            (moment(ended, "end time"), *key),
        )
        return None if found is None else int(found[0])

    def operational_events(
        self,
        kind: OperationalKind | None = None,
        meter: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[OperationalEvent]:
        """Operational events, newest first; ``since <= time < until``."""
        name = None if kind is None else OperationalKind(kind).name
        where, params = event_filter(name, meter, since, until, limit)
        return [
            OperationalEvent(float(t), OperationalKind[k], m, d, int(i),
                             None if r is None else float(r),
                             None if n is None else int(n), None if e is None else float(e))
            for i, t, k, m, d, r, n, e in self._query(_SELECT + " WHERE 1 = 1" + where, params)
        ]  # fmt: skip
