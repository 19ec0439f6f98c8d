"""The public data sets read from the bench extra's wheels (skipped when absent): their shape,
and the UCR archive's published 1-NN error on ItalyPowerDemand reproduced from the files."""

from __future__ import annotations

import numpy as np

from wattguard.testing import datasets
from wattguard.testing.services import require


def test_italy_power_demand_gives_the_published_1nn_error() -> None:
    reason = datasets.missing()
    require(reason is None, reason or "")
    train_x, train_y, test_x, test_y = datasets.italy_power_demand()
    assert train_x.shape == (67, 24) and test_x.shape == (1029, 24)
    assert set(train_y.tolist()) == {1, 2}
    distance = ((test_x[:, None, :] - train_x[None, :, :]) ** 2).sum(axis=2)
    error = np.mean(train_y[distance.argmin(axis=1)] != test_y)
    assert round(float(error), 3) == 0.045  # UCR archive, 1-NN Euclidean


def test_load_taylor_is_twelve_weeks_of_half_hours() -> None:
    reason = datasets.missing()
    require(reason is None, reason or "")
    demand = datasets.load_taylor()
    assert demand.shape == (4032,)
    assert demand[:3].tolist() == [22262.0, 21756.0, 22247.0]
    assert 15_000 < demand.mean() < 40_000
