"""Day-ahead load forecasting, its seasonal-naive baselines, and the scores that compare them.

:func:`day_ahead` forecasts the next day of a 1-D history of per-interval energy or power (NaN
where an interval is missing) with gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``) over horizon-aware features: the step of the day, the
weekly phase (the day's index modulo 7, counted from the end of the history, so no calendar
is needed), the same step yesterday, two days ago and last week, the last value before the
forecast day, and the mean of yesterday, of last week's same day and of the day before it.
Every feature of a target interval is known at the start of its day, so one model forecasts
all ``steps_per_day`` steps directly. Missing values stay NaN in the features (the trees route
them) and intervals with a missing target are left out of the fit. ``exog`` adds covariates
known in advance (a calendar, a temperature forecast). docs/analytics.md says why this model.

Threads: the trees are fitted with at most ``threads`` OpenMP threads (one by default). With
scikit-learn's default of one thread per core, a fit on a loaded two-core host stalls for
tens of seconds (OpenMP threads spin-waiting against each other and the host's other work;
docs/analytics.md, "Forecast threads"); one thread costs little on a day's fit.

:func:`seasonal_naive`, :func:`mase`, :func:`mape` and :func:`rolling_origin` are the
evaluation: every origin is the start of a day, the forecast sees only what precedes it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from wattguard.analytics._arrays import AnalysisInputError, FloatArray

__all__ = ["day_ahead", "mape", "mase", "naive_scale", "rolling_origin", "seasonal_naive"]

#: Fewest whole days of history :func:`day_ahead` fits a model on.
MIN_DAYS = 3

Forecaster = Callable[[FloatArray, int], FloatArray]


def _history(history: npt.ArrayLike, steps_per_day: int, days: int) -> FloatArray:
    array = np.asarray(history, dtype=np.float64)
    if array.ndim != 1:
        raise AnalysisInputError(f"history must be 1-dimensional, not {array.ndim}-dimensional")
    if steps_per_day < 1:
        raise AnalysisInputError(f"steps_per_day must be positive, not {steps_per_day}")
    if array.size < days * steps_per_day:
        raise AnalysisInputError(f"history needs at least {days} days of {steps_per_day} steps")
    if np.isinf(array).any():
        raise AnalysisInputError("history holds an infinite value (NaN marks a missing interval)")
    return array


def _lag(x: FloatArray, k: int) -> FloatArray:
    out = np.full_like(x, np.nan)
    if k < x.size:
        out[k:] = x[: x.size - k]
    return out


def _features(x: FloatArray, steps_per_day: int, n: int) -> FloatArray:
    """Features of every interval of ``x`` (history then the day ahead), all known at the
    start of the interval's day; days are counted from the end of the history ``n``."""
    size, spd = x.size, steps_per_day
    t = np.arange(size)
    step = (t - n) % spd
    start = t - step
    present = ~np.isnan(x)
    total = np.concatenate([[0.0], np.cumsum(np.where(present, x, 0.0))])
    count = np.concatenate([[0], np.cumsum(present)])

    def day_mean(first: npt.NDArray[np.intp]) -> FloatArray:
        lo, hi = np.clip(first, 0, size), np.clip(first + spd, 0, size)
        seen = count[hi] - count[lo]
        return np.where(seen > 0, (total[hi] - total[lo]) / np.maximum(seen, 1), np.nan)

    before = start - 1
    last = np.where(before >= 0, x[np.clip(before, 0, size - 1)], np.nan)
    columns = [
        step.astype(np.float64),
        (((t - n) // spd) % 7).astype(np.float64),
        _lag(x, spd),
        _lag(x, 2 * spd),
        _lag(x, 7 * spd),
        last,
        day_mean(start - spd),
        day_mean(start - 7 * spd),
        day_mean(start - 8 * spd),
    ]
    return np.column_stack(columns)


def day_ahead(
    history: npt.ArrayLike,
    steps_per_day: int,
    exog: npt.ArrayLike | None = None,
    *,
    max_iter: int = 200,
    threads: int = 1,
) -> FloatArray:
    """The next ``steps_per_day`` values after ``history`` (1-D, NaN where missing).

    ``exog``, if given, holds covariates known in advance for every interval of the history
    and of the day ahead: shape (len(history) + steps_per_day,) or (that, k). Needs at least
    :data:`MIN_DAYS` days of history, of which some values are present. ``threads`` bounds
    the OpenMP threads of the fit and the prediction (see the module docstring).
    """
    if threads < 1:
        raise AnalysisInputError(f"threads must be 1 or more, not {threads}")
    h = _history(history, steps_per_day, MIN_DAYS)
    n = h.size
    present = h[~np.isnan(h)]
    if present.size < steps_per_day:
        raise AnalysisInputError("history has fewer present values than one day")
    mean, spread = float(present.mean()), float(present.std()) or 1.0
    x = (np.concatenate([h, np.full(steps_per_day, np.nan)]) - mean) / spread
    features = _features(x, steps_per_day, n)
    if exog is not None:
        extra = np.asarray(exog, dtype=np.float64)
        extra = extra[:, None] if extra.ndim == 1 else extra
        if extra.ndim != 2 or extra.shape[0] != x.size:
            raise AnalysisInputError(
                f"exog must have {x.size} rows (history and the day ahead), not {extra.shape}"
            )
        features = np.column_stack([features, extra])
    target = x[:n]
    fit = ~np.isnan(target)
    fit[:steps_per_day] = False  # nothing precedes the first day
    if not fit.any():
        raise AnalysisInputError("history has no present value after its first day")
    known = ~np.isnan(features[:n][fit]).all(axis=0)  # a lag longer than the history
    features = features[:, known]
    weekly = (np.arange(known.size) == 1)[known]
    model = HistGradientBoostingRegressor(
        max_iter=max_iter, categorical_features=weekly, random_state=0
    )
    with threadpool_limits(limits=threads, user_api="openmp"):
        model.fit(features[:n][fit], target[fit])
        ahead = model.predict(features[n:])
    return np.asarray(ahead * spread + mean, dtype=np.float64)


def seasonal_naive(history: npt.ArrayLike, steps_per_day: int, days: int = 1) -> FloatArray:
    """The next day as the day ``days`` before it (1: yesterday, 7: the same day last week)."""
    h = _history(history, steps_per_day, days)
    start = h.size - days * steps_per_day
    return np.array(h[start : start + steps_per_day])


def mase(actual: npt.ArrayLike, forecast: npt.ArrayLike, scale: float) -> float:
    """Mean absolute error over ``scale`` (the in-sample MAE of a seasonal-naive forecast);
    NaN actuals are left out."""
    a, f = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise AnalysisInputError(f"actual {a.shape} and forecast {f.shape} differ in shape")
    if not scale > 0:
        raise AnalysisInputError(f"the MASE scale must be positive, not {scale}")
    return float(np.nanmean(np.abs(a - f)) / scale)


def mape(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> float:
    """Mean absolute percentage error (in %) over the present, non-zero actuals."""
    a, f = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise AnalysisInputError(f"actual {a.shape} and forecast {f.shape} differ in shape")
    keep = ~np.isnan(a) & (a != 0)
    return float(100.0 * np.mean(np.abs((a[keep] - f[keep]) / a[keep])))


def naive_scale(series: npt.ArrayLike, steps_per_day: int, days: int = 1) -> float:
    """The in-sample MAE of the ``days``-day seasonal-naive forecast: MASE's denominator."""
    s = np.asarray(series, dtype=np.float64)
    lag = days * steps_per_day
    return float(np.nanmean(np.abs(s[lag:] - s[:-lag])))


def rolling_origin(
    series: npt.ArrayLike,
    steps_per_day: int,
    first_day: int,
    forecaster: Forecaster,
    every: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """(actuals, forecasts), each (origins, steps_per_day), from an origin at the start of
    every ``every``-th day from ``first_day`` on; each forecast sees only the days before."""
    s = np.asarray(series, dtype=np.float64)
    days = s.size // steps_per_day
    origins = range(first_day, days, every)
    actual = np.array([s[o * steps_per_day : (o + 1) * steps_per_day] for o in origins])
    forecast = np.array([forecaster(s[: o * steps_per_day], steps_per_day) for o in origins])
    return actual.reshape(-1, steps_per_day), forecast.reshape(-1, steps_per_day)
