"""Day-ahead forecasting: it beats both seasonal-naive baselines on a seeded simulated
district, copes with missing intervals, and the scores are the textbook ones."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError
from wattguard.analytics.forecast import (
    day_ahead,
    mape,
    mase,
    naive_scale,
    rolling_origin,
    seasonal_naive,
)
from wattguard.simulation.district import simulate_districts

SPD = 48


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    return simulate_districts(1, 60, 33, seed=17, steps_per_day=SPD).supply[0]


def test_beats_both_seasonal_naive_baselines(series: np.ndarray) -> None:
    model = partial(day_ahead, max_iter=60)
    actual, forecast = rolling_origin(series, SPD, 28, model)
    _, yesterday = rolling_origin(series, SPD, 28, partial(seasonal_naive, days=1))
    _, last_week = rolling_origin(series, SPD, 28, partial(seasonal_naive, days=7))
    scale = naive_scale(series[: 28 * SPD], SPD)
    ours = mase(actual, forecast, scale)
    better = min(mase(actual, yesterday, scale), mase(actual, last_week, scale))
    assert ours < better  # the 20 % target is bench/forecast.py's, on longer series
    assert mape(actual, forecast) < min(mape(actual, yesterday), mape(actual, last_week))


def test_missing_intervals_are_left_out(series: np.ndarray) -> None:
    history = series[: 21 * SPD].copy()
    clean = day_ahead(history, SPD, max_iter=50)
    rng = np.random.default_rng(3)
    history[rng.choice(history.size, history.size // 10, replace=False)] = np.nan
    history[-SPD // 2 :] = np.nan  # the end of yesterday is missing too
    gappy = day_ahead(history, SPD, max_iter=50)
    assert gappy.shape == (SPD,) and np.isfinite(gappy).all()
    assert np.abs(gappy - clean).mean() < 0.15 * np.abs(clean).mean()


def test_exog_must_cover_the_day_ahead(series: np.ndarray) -> None:
    history = series[: 7 * SPD]
    with pytest.raises(AnalysisInputError):
        day_ahead(history, SPD, exog=np.zeros(history.size))
    calendar = (np.arange(history.size + SPD) // SPD % 7 >= 5).astype(float)
    assert day_ahead(history, SPD, exog=calendar, max_iter=20).shape == (SPD,)


def test_refuses_what_it_cannot_forecast() -> None:
    with pytest.raises(AnalysisInputError):
        day_ahead(np.ones(2 * SPD), SPD)
    with pytest.raises(AnalysisInputError):
        day_ahead(np.full(5 * SPD, np.nan), SPD)
    with pytest.raises(AnalysisInputError):
        day_ahead(np.ones((2, 5 * SPD)), SPD)


def test_the_scores_by_hand() -> None:
    history = np.arange(14.0)
    assert seasonal_naive(history, 2, 1).tolist() == [12.0, 13.0]
    assert seasonal_naive(history, 2, 7).tolist() == [0.0, 1.0]
    assert naive_scale(history, 2) == 2.0
    assert mase([1.0, 2.0], [2.0, 4.0], 2.0) == 0.75
    assert mape([1.0, 2.0, 0.0, np.nan], [2.0, 3.0, 5.0, 1.0]) == pytest.approx(75.0)


_THREADS_PROBE = """
import os, sys
import numpy as np
from wattguard.analytics.forecast import day_ahead
history = np.tile(np.sin(np.arange(48) / 7.6) + 2.0, 10)
day_ahead(history[: 4 * 48], 48, max_iter=5, threads=1)  # warm up (imports, one thread)
before = len(os.listdir("/proc/self/task"))
day_ahead(history, 48, max_iter=20, threads=int(sys.argv[1]))
print(len(os.listdir("/proc/self/task")) - before)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
@pytest.mark.parametrize("threads", [1, 4])
def test_the_fit_starts_no_more_threads_than_asked(threads: int) -> None:
    """OpenMP would start one thread per core (OMP_NUM_THREADS=4 here, whatever the host);
    ``threads`` bounds it, so a fit on a busy host does not oversubscribe its cores."""
    env = {**os.environ, "OMP_NUM_THREADS": "4", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_PROBE, str(threads)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert int(out.stdout.split()[-1]) == threads - 1  # OpenMP's workers beside the caller


def test_threads_must_be_positive(series: np.ndarray) -> None:
    with pytest.raises(AnalysisInputError):
        day_ahead(series[: 7 * SPD], SPD, threads=0)
