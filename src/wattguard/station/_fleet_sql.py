"""The fleet's figures, each one SQL aggregate that runs alike on SQLite and PostgreSQL: the
fleet's total energy per collection interval (the load chart), and the curve readings that
arrived per terminal (the day's collection completeness, :mod:`wattguard.station.fleet`).

Both read the 15-minute curve (:data:`CURVE`, ``50020200/00100201``: the cumulative forward
active energy each meter froze at each quarter hour, DL/T 698.45 object 5002) from the partial
index :data:`CURVE_INDEX` (schema version 6) alone: the span's entries, in time order, never
the table (``bench/fleet_figures.py`` measures it against reading each meter's curve). The
index is partial, and the statements name the curve as a literal (a constant of this module,
never input). A query of one meter's readings of the curve could use it too, and would read
the whole span's entries: the primary key is the right index for it, and PostgreSQL's planner
takes it when the partition's statistics are current (the upkeep keeps them so:
:meth:`~wattguard.station._sql.SqlStorage.maintain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wattguard.station.records import normalise_meter

__all__ = ["CURVE", "CURVE_INDEX", "FleetQueries"]

#: The 15-minute curve's cumulative forward active energy (kWh).
CURVE = "50020200/00100201"
#: The index the fleet's aggregates read (schema version 6): the curve's rows only, by time,
#: holding every column the aggregates name (SQLite reads an index alone only when it holds
#: even the column its WHERE fixes, hence ``quantity`` last).
CURVE_INDEX = (
    "CREATE INDEX readings_curve ON readings (time, meter, value, quantity) "
    f"WHERE quantity = '{CURVE}'"
)

# Each curve reading of the span joined to the same meter's reading one interval earlier (a
# missed freeze would put two intervals' energy in one, so it has no partner and is left out),
# unless the counter went back (a replaced meter); then summed per freeze time. SQLite reads
# both sides from the index alone, in time order, so the sum needs no sort.
_INTERVAL_JOIN = (
    "SELECT a.time, SUM(a.value - b.value), COUNT(*) FROM readings a JOIN readings b"
    f" ON b.quantity = '{CURVE}' AND b.time = a.time - ? AND b.meter = a.meter"
    f" WHERE a.quantity = '{CURVE}' AND a.time > ? AND a.time <= ? AND a.value >= b.value"
    " GROUP BY a.time ORDER BY a.time"
)
# The same sum with each meter's previous freeze found by a window (LAG) over one scan of the
# span: PostgreSQL's nested loop over the join costs it twice this (bench/fleet_figures.py).
_INTERVAL_WINDOW = (
    "SELECT time, SUM(value - previous), COUNT(*) FROM ("
    " SELECT time, value,"
    " LAG(value) OVER (PARTITION BY meter ORDER BY time) AS previous,"
    " LAG(time) OVER (PARTITION BY meter ORDER BY time) AS before"
    f" FROM readings WHERE quantity = '{CURVE}' AND time >= ? AND time <= ?) increases"
    " WHERE before = time - ? AND time > ? AND value >= previous"
    " GROUP BY time ORDER BY time"
)
_ARRIVED = (
    "SELECT m.terminal, COUNT(*) FROM readings r JOIN meters m ON m.address = r.meter"
    f" WHERE r.quantity = '{CURVE}' AND r.time > ? AND r.time <= ? GROUP BY m.terminal"
)


class FleetQueries:
    """The fleet's aggregates; mixed into :class:`~wattguard.station._sql.SqlStorage`, whose
    ``_query`` runs them (one statement each; the load's is chosen for the dialect)."""

    _postgres = False

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def interval_totals(self, start: int, end: int, interval: int) -> list[tuple[int, float, int]]:
        """``(time, total increase, meters counted)`` for each freeze time ``t`` of the curve
        with ``start < t <= end``: the sum over the meters of how much their counter grew since
        the same meter's freeze at ``t - interval``."""
        first, last, step = int(start), int(end), int(interval)
        if self._postgres:
            rows = self._query(_INTERVAL_WINDOW, (first - step, last, step, first))
        else:
            rows = self._query(_INTERVAL_JOIN, (step, first, last))
        return [(int(t), float(total), int(n)) for t, total, n in rows]

    def arrived_per_terminal(self, start: int, end: int) -> dict[str, int]:
        """How many curve readings with ``start < time <= end`` are stored, per terminal the
        meters are registered behind."""
        rows = self._query(_ARRIVED, (int(start), int(end)))
        return {str(terminal): int(n) for terminal, n in rows}

    def meters_per_terminal(self) -> dict[str, int]:
        """How many meters are registered behind each terminal."""
        rows = self._query("SELECT terminal, COUNT(*) FROM meters GROUP BY terminal")
        return {str(terminal): int(n) for terminal, n in rows}

    def registered_since(self, since: float) -> list[tuple[str, float]]:
        """``(terminal, when)`` of each meter registered after ``since``."""
        rows = self._query("SELECT terminal, registered FROM meters WHERE registered > ?",
                           (float(since),))  # fmt: skip
        return [(str(terminal), float(when)) for terminal, when in rows]

    def meters_of(self, terminal: str) -> list[str]:
        """The addresses of the meters registered behind ``terminal``, in order."""
        rows = self._query(
            "SELECT address FROM meters WHERE terminal = ? ORDER BY address",
            (normalise_meter(terminal, what="terminal"),),
        )
        return [str(address) for (address,) in rows]
