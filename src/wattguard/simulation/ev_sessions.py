"""Simulated EV visits at home charging piles: an evening arrival, an overnight stay, the
energy the driver wants. Seeded by the caller's generator; times are POSIX seconds.

The shape follows the common finding of residential charging studies (arrivals peaking in the
early evening, departures in the morning, daily needs around 10 kWh): arrival at 17:00 UTC
plus a normal spread of 1.5 h (clipped to 14:00..22:30), a stay of 9 to 14 hours, and a
log-normal energy around 12 kWh, never more than the pile could deliver in 90 % of the stay.
docs/analytics.md ("The demo's orderly charging") records these choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EvVisit", "evening_visits"]

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class EvVisit:
    """One EV at ``pile`` from ``arrive`` to ``depart`` wanting ``energy_kwh``."""

    pile: str
    arrive: float
    depart: float
    energy_kwh: float


def evening_visits(
    piles: Sequence[str], day_start: float, max_kw: float, rng: np.random.Generator
) -> list[EvVisit]:
    """One visit per pile arriving in the evening of the day that begins at ``day_start``
    (a midnight, UTC)."""
    visits = []
    for pile in piles:
        arrive = day_start + _HOUR * float(np.clip(rng.normal(17.0, 1.5), 14.0, 22.5))
        stay = _HOUR * float(rng.uniform(9.0, 14.0))
        want = float(rng.lognormal(np.log(12.0), 0.4))
        energy = min(want, 0.9 * max_kw * stay / _HOUR)
        visits.append(EvVisit(pile, arrive, arrive + stay, round(energy, 3)))
    return visits
