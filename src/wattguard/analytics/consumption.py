"""Energy consumption analysis: what a utility's analyst reads off each meter's 15-minute curve.

Every function takes curves of energy per interval, shape (meters, steps) with
``steps_per_day`` steps a day and NaN where an interval is missing, and returns per-meter
figures. A district's or the fleet's figures are the same functions applied to
:func:`aggregate`'s sum. Missing intervals are counted (:func:`missing_per_day`) and left out;
nothing is filled in, so a day with a gap shows less energy and says how many intervals it
lacks. Calendar facts (which day is a weekend, which month a day falls in) are arguments: the
analysis reads no clock.

:class:`ConsumptionState` is the incremental form: it takes one day of every meter at a time
and keeps what the figures need (daily energies, time-of-use sums, maximum demand, the typical
day's sums), so a new day adds a day and nothing recomputes history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_curves, as_days

__all__ = [
    "ConsumptionState",
    "aggregate",
    "base_load",
    "daily_energy",
    "load_factor",
    "maximum_demand",
    "missing_per_day",
    "monthly_energy",
    "period_change",
    "time_of_use",
    "top_n",
    "typical_days",
]

IntArray = npt.NDArray[np.intp]

#: Night hours whose minimum power is the base load (standby, refrigeration): 01:00-05:00.
NIGHT_HOURS = (1.0, 5.0)


def missing_per_day(curves: npt.ArrayLike, steps_per_day: int) -> IntArray:
    """(meters, days): how many intervals of each day are missing."""
    days = as_days(curves, steps_per_day)
    return np.asarray(np.isnan(days).sum(axis=2), dtype=np.intp)


def daily_energy(curves: npt.ArrayLike, steps_per_day: int) -> FloatArray:
    """(meters, days) energy of each day: the sum of its present intervals, NaN if none is."""
    days = as_days(curves, steps_per_day)
    total = np.asarray(np.nansum(days, axis=2, dtype=np.float64))
    return np.where(np.isnan(days).all(axis=2), np.nan, total)


def monthly_energy(daily: npt.ArrayLike, month_of_day: npt.ArrayLike) -> FloatArray:
    """(meters, months) from daily energies; ``month_of_day`` numbers each day's month 0, 1, ...

    A month's energy is the sum of its present days (NaN days are left out, not filled).
    """
    energy = as_curves(daily)
    months = np.asarray(month_of_day, dtype=np.intp)
    if months.shape != (energy.shape[1],) or (months < 0).any():
        raise AnalysisInputError("month_of_day needs one month number (>= 0) per day")
    out = np.zeros((energy.shape[0], int(months.max(initial=-1)) + 1))
    np.add.at(out.T, months, np.nan_to_num(energy.T))
    return out


def aggregate(curves: npt.ArrayLike, groups: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    """The summed load curve of each group (a district, the fleet) and its missing count.

    ``groups`` numbers each meter's group 0, 1, ...; returns ((groups, steps) energy,
    (groups, steps) number of the group's meters missing in that interval).
    """
    array = as_curves(curves)
    labels = np.asarray(groups, dtype=np.intp)
    if labels.shape != (array.shape[0],) or (labels < 0).any():
        raise AnalysisInputError("groups needs one group number (>= 0) per meter")
    count = int(labels.max(initial=-1)) + 1
    total = np.zeros((count, array.shape[1]))
    missing = np.zeros((count, array.shape[1]), dtype=np.intp)
    for group in range(count):
        rows = array[labels == group]
        total[group] = np.nansum(rows, axis=0, dtype=np.float64)
        missing[group] = np.isnan(rows).sum(axis=0)
    return total, missing


def time_of_use(
    curves: npt.ArrayLike, steps_per_day: int, tariff_of_step: npt.ArrayLike
) -> FloatArray:
    """(meters, tariffs) energy in each tariff period of the meter's tariff table.

    ``tariff_of_step`` gives the tariff index (0 = sharp, 1 = peak, 2 = flat, 3 = valley in the
    four-rate tables of DL/T 698.45, or any numbering from 0) of each step of the day.
    """
    days = as_days(curves, steps_per_day)
    table = np.asarray(tariff_of_step, dtype=np.intp)
    if table.shape != (steps_per_day,) or (table < 0).any():
        raise AnalysisInputError(f"the tariff table needs {steps_per_day} indices (>= 0)")
    per_step = np.asarray(np.nansum(days, axis=1, dtype=np.float64))  # (meters, steps)
    out = np.zeros((days.shape[0], int(table.max()) + 1))
    for tariff in range(out.shape[1]):
        out[:, tariff] = per_step[:, table == tariff].sum(axis=1)
    return out


def maximum_demand(curves: npt.ArrayLike, steps_per_day: int) -> tuple[FloatArray, IntArray]:
    """Each meter's maximum demand (mean power over one interval, energy unit per hour) and the
    step at which it occurred (-1 for a meter with no data)."""
    array = as_curves(curves, steps_per_day)
    hours = 24.0 / steps_per_day
    filled = np.where(np.isnan(array), -np.inf, array)
    step = filled.argmax(axis=1)
    demand = filled[np.arange(array.shape[0]), step] / hours
    empty = np.isneginf(demand)
    demand[empty] = np.nan
    step[empty] = -1
    return demand, step.astype(np.intp)


def load_factor(curves: npt.ArrayLike) -> FloatArray:
    """Mean over maximum interval energy, per meter (1 for a flat load; NaN without a peak)."""
    array = as_curves(curves)
    out = np.full(array.shape[0], np.nan)
    present = ~np.isnan(array).all(axis=1)
    if present.any():
        rows = array[present] if not present.all() else array
        peak = np.nanmax(rows, axis=1)
        mean = np.nanmean(rows, axis=1, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[present] = np.where(peak > 0, mean / peak, np.nan)
    return out


def _night_steps(steps_per_day: int) -> slice:
    start, end = NIGHT_HOURS
    return slice(round(start * steps_per_day / 24), round(end * steps_per_day / 24))


def base_load(curves: npt.ArrayLike, steps_per_day: int) -> FloatArray:
    """Each meter's base load in energy unit per hour: the median over days of the night's
    (01:00-05:00) lowest interval."""
    days = as_days(curves, steps_per_day)
    night = days[:, :, _night_steps(steps_per_day)]
    with np.errstate(all="ignore"):
        lows = np.where(
            np.isnan(night).all(axis=2), np.nan, np.nanmin(night, axis=2, initial=np.inf)
        )
    lows[np.isinf(lows)] = np.nan
    return _nanmedian_rows(lows) * steps_per_day / 24.0


def _nanmedian_rows(values: FloatArray) -> FloatArray:
    out = np.full(values.shape[0], np.nan)
    present = ~np.isnan(values).all(axis=1)
    if present.any():
        out[present] = np.nanmedian(values[present], axis=1)
    return out


def typical_days(
    curves: npt.ArrayLike, steps_per_day: int, weekend: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Each meter's typical weekday and weekend day: the mean of each step over those days
    (missing intervals left out). ``weekend`` says for each day whether it is one."""
    days = as_days(curves, steps_per_day)
    flags = np.asarray(weekend, dtype=bool)
    if flags.shape != (days.shape[1],):
        raise AnalysisInputError("weekend needs one flag per day")
    return _mean_days(days[:, ~flags]), _mean_days(days[:, flags])


def _mean_days(days: FloatArray) -> FloatArray:
    present = (~np.isnan(days)).sum(axis=1)
    total = np.nansum(days, axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, total / present, np.nan)


def period_change(daily: npt.ArrayLike, period_days: int) -> FloatArray:
    """Relative change of the last ``period_days`` days' energy against the period before
    (0.1 = ten per cent more); NaN when either period is missing or the earlier one is zero."""
    energy = as_curves(daily)
    if period_days < 1 or energy.shape[1] < 2 * period_days:
        raise AnalysisInputError(f"two periods of {period_days} days need more days of data")
    current = energy[:, -period_days:].sum(axis=1)
    previous = energy[:, -2 * period_days : -period_days].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(previous != 0, current / previous - 1.0, np.nan)


def top_n(values: npt.ArrayLike, n: int) -> IntArray:
    """Indices of the ``n`` largest values, largest first; NaN never makes the list."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise AnalysisInputError("top_n ranks a 1-dimensional array")
    present = np.flatnonzero(~np.isnan(array))
    order = present[np.argsort(-array[present], kind="stable")]
    return order[:n].astype(np.intp)


@dataclass
class ConsumptionState:
    """The incremental consumption analysis of a fleet: :meth:`add_day` takes one more day.

    It keeps each day's energy and missing count (a column a day), the time-of-use sums, the
    maximum demand with its day and step, the night minimum of each day, and the sums of the
    typical weekday and weekend day. The figures of :meth:`summary` equal the batch functions
    over all the days added.
    """

    meters: int
    steps_per_day: int
    tariff_of_step: IntArray
    days: int = 0
    _daily: list[FloatArray] = field(default_factory=list, repr=False)
    _missing: list[IntArray] = field(default_factory=list, repr=False)
    _night: list[FloatArray] = field(default_factory=list, repr=False)
    _tou: FloatArray = field(init=False, repr=False)
    _peak: FloatArray = field(init=False, repr=False)
    _peak_at: IntArray = field(init=False, repr=False)
    _sums: FloatArray = field(init=False, repr=False)
    _counts: IntArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tariff_of_step = np.asarray(self.tariff_of_step, dtype=np.intp)
        if self.tariff_of_step.shape != (self.steps_per_day,):
            raise AnalysisInputError(f"the tariff table needs {self.steps_per_day} indices")
        tariffs = int(self.tariff_of_step.max()) + 1
        self._tou = np.zeros((self.meters, tariffs))
        self._peak = np.full(self.meters, -np.inf)
        self._peak_at = np.full(self.meters, -1, dtype=np.intp)
        self._sums = np.zeros((2, self.meters, self.steps_per_day))
        self._counts = np.zeros((2, self.meters, self.steps_per_day), dtype=np.intp)

    def add_day(self, day: npt.ArrayLike, *, weekend: bool) -> None:
        """Take one day: (meters, steps_per_day) energy per interval, NaN where missing."""
        curve = as_curves(day, self.steps_per_day)
        if curve.shape != (self.meters, self.steps_per_day):
            raise AnalysisInputError(f"a day is ({self.meters}, {self.steps_per_day})")
        self._daily.append(daily_energy(curve, self.steps_per_day)[:, 0])
        self._missing.append(np.isnan(curve).sum(axis=1).astype(np.intp))
        self._night.append(base_load(curve, self.steps_per_day))
        self._tou += time_of_use(curve, self.steps_per_day, self.tariff_of_step)
        peak, step = maximum_demand(curve, self.steps_per_day)
        higher = np.nan_to_num(peak, nan=-np.inf) > self._peak
        self._peak[higher] = peak[higher]
        self._peak_at[higher] = self.days * self.steps_per_day + step[higher]
        kind = int(weekend)
        self._sums[kind] += np.nan_to_num(curve)
        self._counts[kind] += ~np.isnan(curve)
        self.days += 1

    def daily(self) -> FloatArray:
        """(meters, days) energy of each day added."""
        return np.stack(self._daily, axis=1) if self._daily else np.zeros((self.meters, 0))

    def missing(self) -> IntArray:
        """(meters, days) missing intervals of each day added."""
        if not self._missing:
            return np.zeros((self.meters, 0), dtype=np.intp)
        return np.stack(self._missing, axis=1)

    def time_of_use(self) -> FloatArray:
        """(meters, tariffs) energy by tariff period over the days added."""
        return self._tou.copy()

    def maximum_demand(self) -> tuple[FloatArray, IntArray]:
        """Maximum demand (per hour) and its step counted from the first day added."""
        demand = np.where(np.isneginf(self._peak), np.nan, self._peak)
        return demand, self._peak_at.copy()

    def base_load(self) -> FloatArray:
        """Median over the days added of each night's lowest power."""
        return _nanmedian_rows(np.stack(self._night, axis=1))

    def typical_days(self) -> tuple[FloatArray, FloatArray]:
        """Typical weekday and weekend day over the days added."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self._counts > 0, self._sums / self._counts, np.nan)
        return means[0], means[1]

    def load_factor(self) -> FloatArray:
        """Mean over maximum interval energy across the days added."""
        hours = 24.0 / self.steps_per_day
        present = self.missing().shape[1] * self.steps_per_day - self.missing().sum(axis=1)
        total = np.nansum(self.daily(), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(present > 0, total / present, np.nan)
            demand = self.maximum_demand()[0] * hours
            return np.where(demand > 0, mean / demand, np.nan)
