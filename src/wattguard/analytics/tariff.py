"""Tariff advice and demand-response selection, over the customers' own curves.

Tariff advice: :func:`bills` prices every customer's curve (kWh per interval, NaN where
missing, left out) under each offered tariff, a :class:`Flat` price, a :class:`TimeOfUse`
price per step of the day, or a :class:`Tiered` block price per billing period, and
:func:`advise` names the cheapest for each customer.

Demand response: :func:`select_curtailment` sheds ``target_kw`` for an event by lowering the
loads offered (charging piles, and the device ports of customers who opted in) with the least
total curtailed comfort: each load offers ``available`` kW above its floor at a comfort cost
per kW, and the least-cost way to shed a given power is to take the cheapest kW first (the
fractional knapsack, whose greedy answer is optimal). :func:`shed_report` compares what was
shed, from the meters' own readings, with what was asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_curves

__all__ = [
    "Curtailment",
    "Flat",
    "Tiered",
    "TimeOfUse",
    "advise",
    "bills",
    "select_curtailment",
    "shed_report",
]


@dataclass(frozen=True)
class Flat:
    """One price (per kWh) at all times."""

    price: float

    def charge(self, days: FloatArray) -> FloatArray:
        """(meters,) bill of (meters, days, steps) energy."""
        return np.asarray(np.nansum(days, axis=(1, 2)) * self.price)


@dataclass(frozen=True)
class TimeOfUse:
    """A price per kWh for each step of the day (``steps_per_day`` values)."""

    prices: tuple[float, ...]

    def charge(self, days: FloatArray) -> FloatArray:
        """(meters,) bill of (meters, days, steps) energy."""
        if days.shape[2] != len(self.prices):
            raise AnalysisInputError(f"a time-of-use tariff of {len(self.prices)} steps a day")
        return np.asarray(np.nansum(days, axis=1) @ np.asarray(self.prices))


@dataclass(frozen=True)
class Tiered:
    """Block prices per billing period of ``period_days`` days: ``prices[k]`` per kWh for the
    energy between ``limits[k - 1]`` and ``limits[k]`` kWh (the last block has no limit)."""

    limits: tuple[float, ...]
    prices: tuple[float, ...]
    period_days: int = 30

    def charge(self, days: FloatArray) -> FloatArray:
        """(meters,) bill of (meters, days, steps) energy."""
        if len(self.prices) != len(self.limits) + 1 or list(self.limits) != sorted(self.limits):
            raise AnalysisInputError("a tiered tariff needs rising limits and one price more")
        daily = np.nansum(days, axis=2)
        periods = -(-daily.shape[1] // self.period_days)
        padded = np.zeros((daily.shape[0], periods * self.period_days))
        padded[:, : daily.shape[1]] = daily
        energy = padded.reshape(daily.shape[0], periods, self.period_days).sum(axis=2)
        edges = np.concatenate([[0.0], self.limits, [np.inf]])
        blocks = np.clip(energy[..., None] - edges[:-1], 0.0, np.diff(edges))
        return np.asarray((blocks @ np.asarray(self.prices)).sum(axis=1))


Tariff = Flat | TimeOfUse | Tiered


def bills(
    curves: npt.ArrayLike, steps_per_day: int, tariffs: Mapping[str, Tariff]
) -> tuple[list[str], FloatArray]:
    """(tariff names, (meters, tariffs) bills) of whole days of energy per interval."""
    array = as_curves(curves, steps_per_day)
    days = array.reshape(array.shape[0], -1, steps_per_day)
    names = list(tariffs)
    return names, np.column_stack([tariffs[n].charge(days) for n in names])


def advise(
    curves: npt.ArrayLike, steps_per_day: int, tariffs: Mapping[str, Tariff]
) -> tuple[list[str], FloatArray]:
    """(the cheapest tariff's name per meter, (meters, tariffs) bills)."""
    names, table = bills(curves, steps_per_day, tariffs)
    return [names[i] for i in np.argmin(table, axis=1)], table


@dataclass(frozen=True)
class Curtailment:
    """A demand-response selection: the kW taken from each offered load (``cut``), the new
    limit of each (``limits``), what was asked and shed, and the curtailed comfort."""

    cut: FloatArray
    limits: FloatArray
    asked_kw: float
    shed_kw: float
    comfort: float

    @property
    def shortfall_kw(self) -> float:
        """What could not be shed because the offered loads hold less than was asked."""
        return max(self.asked_kw - self.shed_kw, 0.0)


def select_curtailment(
    target_kw: float,
    load_kw: npt.ArrayLike,
    floor_kw: npt.ArrayLike,
    comfort_per_kw: npt.ArrayLike,
) -> Curtailment:
    """Shed ``target_kw`` from the offered loads (each now drawing ``load_kw``, never below
    ``floor_kw``) with the least total ``comfort_per_kw`` times kW curtailed."""
    load = np.asarray(load_kw, dtype=np.float64)
    floor = np.asarray(floor_kw, dtype=np.float64)
    weight = np.asarray(comfort_per_kw, dtype=np.float64)
    if not load.shape == floor.shape == weight.shape or load.ndim != 1 or not target_kw >= 0:
        raise AnalysisInputError("one load, floor and comfort weight per offered load")
    if np.isnan(load).any() or np.isnan(floor).any() or (weight < 0).any():
        raise AnalysisInputError("loads and floors present, comfort weights not negative")
    available = np.maximum(load - floor, 0.0)
    cut = np.zeros_like(load)
    left = float(target_kw)
    for i in np.lexsort((-available, weight)):
        if left <= 0:
            break
        cut[i] = min(available[i], left)
        left -= cut[i]
    return Curtailment(cut, load - cut, float(target_kw), float(cut.sum()), float(weight @ cut))


def shed_report(
    asked_kw: float, baseline_kwh: npt.ArrayLike, event_kwh: npt.ArrayLike, hours: float
) -> tuple[float, float]:
    """(kW shed, share of the ask) from the meters' readings over the event: the baseline's
    energy (what they would have drawn, e.g. the forecast) less what they drew, over ``hours``."""
    base = np.asarray(baseline_kwh, dtype=np.float64)
    drawn = np.asarray(event_kwh, dtype=np.float64)
    if base.shape != drawn.shape or not hours > 0:
        raise AnalysisInputError("baseline and event readings of the same meters, hours > 0")
    shed = float(np.nansum(base - drawn) / hours)
    return shed, shed / asked_kw if asked_kw > 0 else float("nan")
