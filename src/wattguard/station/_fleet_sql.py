"""The fleet's figures, each one SQL aggregate that runs alike on SQLite and PostgreSQL: the
fleet's total energy per collection interval (the load chart), and the curve readings that
arrived per terminal (the day's collection completeness, :mod:`wattguard.station.fleet`).

Both read the 15-minute curve (``50020200/00100201``: the cumulative forward active energy
each meter froze at each quarter hour, DL/T 698.45 object 5002) through the index on
``(quantity, time)`` (schema version 5), never the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wattguard.station.records import normalise_meter, normalise_quantity

__all__ = ["FleetQueries"]

# A meter's increase since its previous freeze, kept only when that freeze is exactly one
# interval earlier (a missed freeze would put two intervals' energy in one) and the counter did
# not go back (a replaced meter); then summed over the meters per freeze time.
_INTERVAL_ENERGY = (
    "SELECT time, SUM(value - previous), COUNT(*) FROM ("
    " SELECT time, value,"
    " LAG(value) OVER (PARTITION BY meter ORDER BY time) AS previous,"
    " LAG(time) OVER (PARTITION BY meter ORDER BY time) AS before"
    " FROM readings WHERE quantity = ? AND time >= ? AND time <= ?) increases"
    " WHERE before = time - ? AND time > ? AND value >= previous"
    " GROUP BY time ORDER BY time"
)
_ARRIVED = (
    "SELECT m.terminal, COUNT(*) FROM readings r JOIN meters m ON m.address = r.meter"
    " WHERE r.quantity = ? AND r.time > ? AND r.time <= ? GROUP BY m.terminal"
)


class FleetQueries:
    """The fleet's aggregates; mixed into :class:`~wattguard.station._sql.SqlStorage`, whose
    ``_query`` runs them."""

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def interval_totals(
        self, quantity: str, start: int, end: int, interval: int
    ) -> list[tuple[int, float, int]]:
        """``(time, total increase, meters counted)`` for each freeze time ``t`` with
        ``start < t <= end``: the sum over the meters of how much ``quantity`` (a cumulative
        counter) grew since the same meter's freeze at ``t - interval``."""
        rows = self._query(
            _INTERVAL_ENERGY,
            (normalise_quantity(quantity), int(start) - int(interval), int(end), int(interval),
             int(start)),
        )  # fmt: skip
        return [(int(t), float(total), int(n)) for t, total, n in rows]

    def arrived_per_terminal(self, quantity: str, start: int, end: int) -> dict[str, int]:
        """How many readings of ``quantity`` with ``start < time <= end`` are stored, per
        terminal the meters are registered behind."""
        rows = self._query(_ARRIVED, (normalise_quantity(quantity), int(start), int(end)))
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
