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
