"""The SQL of the districts' supply meters, mixed into both storage backends: which meter is
the total (supply) meter at the transformer of each terminal's district (schema version 10).

One row per terminal (its primary key): registering another supply meter for a terminal
replaces the first. The station reads them all at start, so its energy balance and the
rules' district-load conditions find each district's supply meter after a restart, without
the deployment saying it again and without a rule naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from wattguard.station.records import moment, normalise_meter

__all__ = ["DistrictTables", "fill_supply_meters"]


class DistrictTables:
    """The districts' supply meters; the backend gives the connection (``_write``, ``_query``,
    ``_sql``)."""

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        raise NotImplementedError

    def set_supply_meter(self, terminal: str, meter: str, now: float) -> None:
        """Record ``meter`` as the supply (total) meter of ``terminal``'s district, replacing
        the one recorded before (InvalidRecord for an address that is not 12 hex digits)."""
        row = (
            normalise_meter(terminal, what="terminal"),
            normalise_meter(meter),
            moment(now, "registration time"),
        )
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO districts (terminal, supply_meter, registered) VALUES (?, ?, ?) "
                    "ON CONFLICT (terminal) DO UPDATE SET supply_meter = excluded.supply_meter, "
                    "registered = excluded.registered"
                ),
                row,
            )

    def supply_meters(self) -> dict[str, str]:
        """Each district's supply meter: terminal -> meter (12 hex digits each)."""
        rows = self._query("SELECT terminal, supply_meter FROM districts ORDER BY terminal")
        return {str(terminal): str(meter) for terminal, meter in rows}


def fill_supply_meters(cur: Any, sql: Any) -> None:
    """Migration 10's fix-up: a database written before it marked supply meters only by their
    class (``district``, :data:`~wattguard.station.analysis.DISTRICT_CLASS`); the first such
    meter of each terminal becomes its district's supply meter."""
    cur.execute(
        "SELECT terminal, MIN(address), MIN(registered) FROM meters "
        "WHERE meter_class = 'district' GROUP BY terminal"
    )
    rows = [(str(t), str(m), float(r)) for t, m, r in cur.fetchall()]
    if rows:
        cur.executemany(
            sql("INSERT INTO districts (terminal, supply_meter, registered) VALUES (?, ?, ?)"),
            rows,
        )
