"""Load-profile clustering recovers the simulated classes and names them by shape."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from wattguard.analytics import cluster_profiles
from wattguard.analytics.clustering import (
    ProfileAccumulator,
    cluster_shapes,
    name_shape,
    shapes,
)
from wattguard.simulation.district import CustomerClass, simulate_districts


def test_the_simulated_classes_are_recovered_and_named() -> None:
    sim = simulate_districts(2, 100, 14, seed=2)
    labels = cluster_profiles(sim.curves, 96)
    assert adjusted_rand_score(sim.truth.classes, labels) >= 0.9
    accumulator = ProfileAccumulator(200, 96)
    accumulator.add_days(sim.curves)
    result = cluster_shapes(shapes(accumulator.typical()))
    names = {}
    for cls in CustomerClass:
        members = result.labels[sim.truth.classes == cls]
        names[cls] = result.names[int(np.bincount(members).argmax())]
    assert names == {
        CustomerClass.RESIDENTIAL: "evening peak",
        CustomerClass.COMMERCIAL: "flat commercial",
        CustomerClass.PV: "PV export",
        CustomerClass.EV: "night EV charging",
    }


def test_the_accumulator_adds_days_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    curves = rng.random((3, 96 * 4))
    curves[0, 5] = np.nan
    whole = ProfileAccumulator(3, 96)
    whole.add_days(curves)
    daily = ProfileAccumulator(3, 96)
    for day in range(4):
        daily.add_days(curves[:, day * 96 : (day + 1) * 96])
    np.testing.assert_allclose(daily.typical(), whole.typical())
    assert daily.typical()[0, 5] == np.nanmean(curves[0, 5::96])


def test_names_of_plain_shapes() -> None:
    hours = np.arange(24) + 0.5
    evening = 0.3 + np.exp(-0.5 * ((hours - 19.5) / 1.5) ** 2)
    night = np.where((hours > 22) | (hours < 3), 3.0, 0.2)
    shop = np.where((hours > 8) & (hours < 19), 1.0, 0.2)
    pv = 0.5 - 2 * np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None)
    for shape, name in [
        (evening, "evening peak"),
        (night, "night EV charging"),
        (shop, "flat commercial"),
        (pv, "PV export"),
    ]:
        assert name_shape(shape / np.abs(shape).mean()) == name
    assert cluster_profiles(np.full((2, 96), np.nan).tolist() + [[1.0] * 96] * 3, 96, k=1)[0] == -1
