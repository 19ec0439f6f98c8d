"""What the orderly-charging job learns from the meters' stored readings: each pile's draw per
interval, and a district's base-load history from its supply meter's curve.

Theory of operation. A meter with a charging pile freezes the pile's energy (vendor object
FF13, Wh) in its 15-minute curve (5002); its terminal collects that curve and the station
stores it as ordinary readings, quantity ``50020200/FF130200`` (kWh) at each boundary
(:mod:`wattguard.station.ingest`). A pile's mean power over interval ``[a, a + step)`` is the
difference of its two boundary readings over the interval's hours (:func:`pile_draw`); a
boundary not stored, or a total that went down, is a missing reading (NaN), never a value made
up from the limit the pile was sent.

Readings arrive late: a terminal reads a boundary's records a minute after it at the earliest
and its task runs every 15 minutes, so :class:`ReadingsObserver` hands an interval to the job
(:meth:`~wattguard.station.charging.DistrictCharging.observe`) once every pile's readings of
it are in, or once ``grace`` seconds have passed since it ended (what is still missing is then
counted missing by the job). Intervals go to the job in order.

:func:`curve_history` is the base-load history a day-ahead forecast is fitted on: the supply
(district) meter's 15-minute curve of forward active energy (``50020200/00100201``) as kW per
interval, NaN where a boundary is missing; None when fewer than a day of intervals is there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from wattguard.station.charging import DistrictCharging
from wattguard.station.storage import Storage

log = logging.getLogger(__name__)

__all__ = [
    "PILE_CURVE",
    "SUPPLY_CURVE",
    "ReadingsObserver",
    "curve_history",
    "pile_draw",
]

#: The pile's energy in the 15-minute curve, as the station stores it (kWh).
PILE_CURVE = "50020200/FF130200"
#: The supply meter's forward active energy in the 15-minute curve (kWh).
SUPPLY_CURVE = "50020200/00100201"


def _boundaries(
    storage: Storage, meter: str, quantity: str, start: int, end: int
) -> dict[int, float]:
    """The stored values of ``quantity`` at times in ``[start, end]``, by time."""
    return {r.time: r.value for r in storage.readings(meter, quantity, start=start, end=end + 1)}


def pile_draw(storage: Storage, piles: Iterable[str], start: float, step: int) -> dict[str, float]:
    """Each pile's mean power (kW) over ``[start, start + step)`` from its stored curve; NaN
    where a boundary reading is missing (or the total went down)."""
    a, b = int(start), int(start) + step
    out = {}
    for pile in piles:
        found = _boundaries(storage, pile, PILE_CURVE, a, b)
        if a in found and b in found and found[b] >= found[a]:
            out[pile] = (found[b] - found[a]) / (step / 3600.0)
        else:
            out[pile] = math.nan
    return out


def curve_history(
    storage: Storage, meter: str, end: float, steps: int, step: int
) -> np.ndarray | None:
    """The ``steps`` intervals before ``end`` as kW per interval from ``meter``'s stored
    curve (NaN where a boundary is missing); None with fewer than a day of intervals."""
    first = int(end) - steps * step
    found = _boundaries(storage, meter, SUPPLY_CURVE, first, int(end))
    energy = np.array([found.get(first + k * step, math.nan) for k in range(steps + 1)])
    kw = np.diff(energy) / (step / 3600.0)
    kw[kw < 0] = math.nan  # a total that went down is no measurement
    if np.count_nonzero(np.isfinite(kw)) < 86_400 // step:
        return None
    return np.asarray(kw, dtype=np.float64)


class ReadingsObserver:
    """Hands a job its intervals as their readings come in (see the module docstring).

    ``base(end, piles_kw)`` is the district's base load (kW) over the interval that ended at
    ``end``, given the piles' total draw measured there (NaN if a pile's is missing)."""

    def __init__(
        self,
        storage: Storage,
        job: DistrictCharging,
        base: Callable[[float, float], float],
        *,
        grace: float = 2700.0,
        on_observed: Callable[[float, float, Mapping[str, float]], None] | None = None,
    ) -> None:
        self.storage = storage
        self.job = job
        self.base = base
        self.grace = grace
        self.on_observed = on_observed
        self.next = 0  # the job's next interval to observe
        #: Piles whose reading was missing when an interval's grace ran out (logged once each).
        self.silent: set[str] = set()

    def reset(self) -> None:
        """A new horizon began: observe from its first interval."""
        self.next = 0

    def step(self, now: float, *, flush: bool = False) -> int:
        """Observe every interval that ended by ``now`` whose readings are in (or whose
        grace passed, or all of them with ``flush``), in order; how many were."""
        job, done = self.job, 0
        while self.next < job.steps:
            start = job.start + self.next * job.step_seconds
            end = start + job.step_seconds
            if end > now:
                break
            draw = pile_draw(self.storage, job.piles, start, job.step_seconds)
            complete = all(math.isfinite(kw) for kw in draw.values())
            if not (complete or flush or now >= end + self.grace):
                break
            for pile in sorted(p for p, kw in draw.items() if not math.isfinite(kw)):
                if pile not in self.silent:
                    self.silent.add(pile)
                    log.warning(
                        "charging: no pile energy (FF13) from meter %s for %s: is FF130200 in "
                        "its 15-minute curve? A supervisor adds it with the freeze objects "
                        "command (docs/analytics.md)", pile, self.job.district,
                    )  # fmt: skip
            total = sum(draw.values()) if complete else math.nan
            base_kw = self.base(end, total)
            job.observe(end, base_kw, draw)
            if self.on_observed is not None:
                self.on_observed(end, base_kw, draw)
            self.next += 1
            done += 1
        return done
