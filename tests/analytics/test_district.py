"""The seeded district simulation: reproducible, losses of a few per cent, irregular meters
whose truth is kept apart."""

from __future__ import annotations

import numpy as np

from wattguard.simulation.district import CustomerClass, Irregularity, simulate_districts


def test_same_seed_same_district_and_losses_of_a_few_per_cent() -> None:
    a = simulate_districts(2, 30, 7, seed=4)
    b = simulate_districts(2, 30, 7, seed=4)
    np.testing.assert_array_equal(a.curves, b.curves)
    np.testing.assert_array_equal(a.supply, b.supply)
    share = a.truth.losses.sum(axis=1) / a.supply.sum(axis=1)
    assert ((share > 0.01) & (share < 0.08)).all()
    # losses follow the load: more in the busiest quarter hours than in the quietest
    busy = a.supply[0] > np.quantile(a.supply[0], 0.9)
    quiet = a.supply[0] < np.quantile(a.supply[0], 0.1)
    assert a.truth.losses[0, busy].mean() > 2 * a.truth.losses[0, quiet].mean()


def test_irregular_meters_and_their_truth() -> None:
    sim = simulate_districts(4, 30, 10, seed=1, keep_true=True)
    kinds = sim.truth.irregularity
    assert sorted(kinds[kinds > 0].tolist()) == [1, 2, 3, 4]
    assert (sim.truth.classes[kinds > 0] != CustomerClass.PV).all()
    assert sim.truth.true_curves is not None
    for meter in np.flatnonzero(kinds > 0):
        ratio = sim.curves[meter].sum() / sim.truth.true_curves[meter].sum() - 1
        assert abs(ratio - sim.truth.error[meter]) < 1e-3
        if kinds[meter] == Irregularity.METER_ERROR:
            assert abs(abs(sim.truth.error[meter]) - 0.02) < 1e-6
        elif kinds[meter] == Irregularity.BROKEN:
            assert sim.curves[meter, -96:].max() == 0.0
        else:
            assert sim.truth.error[meter] < -0.05
    honest = kinds == 0
    np.testing.assert_allclose(sim.curves[honest], sim.truth.true_curves[honest])


def test_voltages_follow_the_feeders_and_leave_the_energy_alone() -> None:
    sim = simulate_districts(2, 45, 7, seed=6, voltages=True)
    plain = simulate_districts(2, 45, 7, seed=6)
    np.testing.assert_array_equal(sim.curves, plain.curves)
    np.testing.assert_array_equal(sim.supply, plain.supply)
    assert plain.voltage is None and sim.voltage is not None
    assert sim.voltage.dtype == np.float32 and sim.voltage.shape == sim.curves.shape
    assert 215 < float(np.median(sim.voltage)) < 235
    assert sim.truth.position is not None
    for d in range(2):
        rows = np.flatnonzero(sim.district == d)
        steps = np.corrcoef(np.diff(sim.voltage[rows].astype(np.float64), axis=1))
        same = sim.feeder[rows, None] == sim.feeder[None, rows]
        np.fill_diagonal(same, False)
        different = sim.feeder[rows, None] != sim.feeder[None, rows]
        assert steps[same].mean() > steps[different].mean() + 0.1
        # farther along a feeder, a lower voltage on average
        mean = sim.voltage[rows].mean(axis=1)
        assert np.corrcoef(sim.truth.position[rows], mean)[0, 1] < -0.3
