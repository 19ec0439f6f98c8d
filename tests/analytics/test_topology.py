"""Feeders inferred from the customers' voltages: the simulation's feeders are found, and
voltages that carry no feeder (shuffled in time) give no grouping."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from wattguard.analytics import AnalysisInputError
from wattguard.analytics.topology import contrast, infer_feeders, infer_topology
from wattguard.simulation.district import SimulatedDistricts, simulate_districts


def district(feeders: int = 3, *, seed: int = 3, days: int = 7) -> SimulatedDistricts:
    return simulate_districts(1, 60, days, seed=seed, voltages=True, feeders_per_district=feeders)


@pytest.mark.parametrize("feeders", [1, 2, 3, 4])
def test_the_simulated_feeders_are_found_with_their_number(feeders: int) -> None:
    sim = district(feeders)
    assert sim.voltage is not None
    found = infer_topology(sim.voltage)
    assert found.k == feeders
    assert adjusted_rand_score(sim.feeder, found.labels) == pytest.approx(1.0)
    if feeders > 1:
        assert found.mean_silhouette > 0.3
        assert (found.silhouette > 0).mean() > 0.9
    else:
        assert np.isnan(found.silhouette).all()


def test_voltages_shuffled_in_time_carry_no_feeder() -> None:
    sim = district()
    assert sim.voltage is not None
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(row) for row in sim.voltage])
    labels = infer_feeders(shuffled, k=3)
    assert abs(adjusted_rand_score(sim.feeder, labels)) < 0.1
    assert infer_topology(shuffled).k == 1  # no contrast: one group when k is not given


def test_missing_readings_and_meter_noise() -> None:
    sim = district(days=14)
    assert sim.voltage is not None
    rng = np.random.default_rng(1)
    noisy = sim.voltage + rng.normal(0.0, 1.15, sim.voltage.shape)  # 0.5 % of 230 V
    noisy[rng.random(noisy.shape) < 0.1] = np.nan
    noisy[5] = np.nan  # a meter without voltage readings is left out
    found = infer_topology(noisy)
    assert found.labels[5] == -1 and np.isnan(found.silhouette[5])
    rest = np.arange(60) != 5
    assert found.k == 3
    assert adjusted_rand_score(sim.feeder[rest], found.labels[rest]) > 0.8
    # the confidence points at the mistakes: customers put with the wrong feeder's majority
    # have a lower silhouette than those put right
    majority = {g: np.bincount(sim.feeder[found.labels == g]).argmax() for g in range(3)}
    majority[-1] = -1
    wrong = np.array([majority[g] != f for g, f in zip(found.labels, sim.feeder, strict=True)])
    wrong &= rest
    assert wrong.any()
    assert found.silhouette[wrong].mean() < found.silhouette[rest & ~wrong].mean() - 0.1


def test_same_voltages_same_labels_numbered_by_first_appearance() -> None:
    sim = district(seed=5)
    assert sim.voltage is not None
    first = infer_feeders(sim.voltage)
    np.testing.assert_array_equal(first, infer_feeders(sim.voltage.copy()))
    assert first[0] == 0
    assert set(first.tolist()) == {0, 1, 2}
    assert (np.diff([np.flatnonzero(first == g)[0] for g in range(3)]) > 0).all()
    assert infer_topology(sim.voltage, k=2).k == 2
    few = sim.voltage.astype(np.float64)
    few[2:] = np.nan  # two customers with readings: k=3 asked, two groups at most
    assert infer_topology(few, k=3).k == 2


def test_contrast_of_known_correlations() -> None:
    labels = np.array([0, 0, 1, 1])
    correlation = np.full((4, 4), 0.2)
    correlation[:2, :2] = correlation[2:, 2:] = 0.8
    np.fill_diagonal(correlation, 1.0)
    assert contrast(correlation, labels) == pytest.approx(0.75)
    assert contrast(np.full((4, 4), 0.5), labels) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("voltages", "k"),
    [
        (np.ones(96), None),  # one dimension
        (np.ones((4, 95)), None),  # not whole days
        (np.full((4, 192), np.inf), None),
        (np.full((4, 192), np.nan), None),  # no customer has a day of readings
        (np.ones((4, 192)), 0),
        (np.ones((4, 192)), 5),
    ],
)
def test_what_it_refuses(voltages: np.ndarray, k: int | None) -> None:
    with pytest.raises(AnalysisInputError):
        infer_topology(voltages, 96, k)
