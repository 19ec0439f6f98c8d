"""Checks every analysis makes of the arrays it is handed, and the day reshape they share.

An analysis takes float arrays of energy per interval (NaN where the interval is missing) and
refuses, with :class:`AnalysisInputError`, what it cannot take: the wrong number of dimensions,
a length that is not a whole number of days, infinities, or arrays that do not line up.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wattguard.errors import WattguardError

__all__ = ["AnalysisInputError", "as_curves", "as_days", "as_series"]

FloatArray = npt.NDArray[np.floating]


class AnalysisInputError(WattguardError, ValueError):
    """The arrays handed to an analysis cannot be analysed: wrong shape, kind or length."""


def as_curves(curves: npt.ArrayLike, steps_per_day: int | None = None) -> FloatArray:
    """``curves`` as a (meters, steps) float array, checked; a whole number of days if asked."""
    array = np.asarray(curves)
    if array.ndim != 2:
        raise AnalysisInputError(f"curves must be (meters, steps), not {array.ndim}-dimensional")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise AnalysisInputError(f"curves must be real numbers, not {array.dtype}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if np.isinf(array).any():
        raise AnalysisInputError("curves hold an infinite value (NaN marks a missing interval)")
    if steps_per_day is not None:
        if steps_per_day < 1:
            raise AnalysisInputError(f"steps_per_day must be positive, not {steps_per_day}")
        if array.shape[1] % steps_per_day:
            raise AnalysisInputError(
                f"{array.shape[1]} steps are not a whole number of {steps_per_day}-step days"
            )
    return array


def as_series(series: npt.ArrayLike, length: int, name: str) -> FloatArray:
    """``series`` as a 1-dimensional float array of ``length``, checked."""
    array = np.asarray(series, dtype=np.float64)
    if array.shape != (length,):
        raise AnalysisInputError(f"{name} must have shape ({length},), not {array.shape}")
    if np.isinf(array).any():
        raise AnalysisInputError(f"{name} holds an infinite value")
    return array


def as_days(curves: npt.ArrayLike, steps_per_day: int) -> FloatArray:
    """(meters, steps) curves viewed as (meters, days, steps_per_day), without a copy."""
    array = as_curves(curves, steps_per_day)
    meters, steps = array.shape
    return array.reshape(meters, steps // steps_per_day, steps_per_day)
