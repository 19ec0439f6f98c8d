"""The district balance: the daily loss rate, abnormal-loss alerts, and each meter's error
estimated from the balance, on seeded districts whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError, estimate_meter_errors
from wattguard.analytics.lineloss import LossMonitor, daily_loss, rank_meters
from wattguard.simulation.district import Irregularity, simulate_districts


@pytest.fixture(scope="module")
def districts():  # type: ignore[no-untyped-def]
    # Four districts of 40 customers, 30 days: one of each irregularity, in turn.
    return simulate_districts(4, 40, 30, seed=5)


def test_daily_loss_by_hand() -> None:
    supply = np.array([10.0, 10.0, 20.0, np.nan])
    customers = np.array([[4.0, 4.0, 9.0, 1.0], [5.0, 5.0, 9.0, 1.0]])
    energy, rate, used = daily_loss(supply, customers, 2)
    assert energy.tolist() == [2.0, 2.0]
    assert rate.tolist() == [0.1, 0.1]
    assert used.tolist() == [2, 1]


def test_the_daily_rate_is_the_technical_loss_until_a_meter_hides_load() -> None:
    honest = simulate_districts(1, 40, 10, seed=5, irregular=0)
    _, rate, used = daily_loss(honest.supply[0], honest.curves, 96)
    assert ((rate > 0.01) & (rate < 0.08)).all() and (used == 96).all()
    bypassed = honest.curves.copy()
    bypassed[:4] *= 0.5
    _, more, _ = daily_loss(honest.supply[0], bypassed, 96)
    assert (more > rate + 0.01).all()


@pytest.mark.parametrize("district", range(4))
def test_the_irregular_meter_is_named_and_its_error_estimated(districts, district: int) -> None:  # type: ignore[no-untyped-def]
    rows = districts.district == district
    errors = estimate_meter_errors(districts.supply[district], districts.curves[rows])
    kind = districts.truth.irregularity[rows]
    irregular = int(np.flatnonzero(kind > 0)[0])
    truth = districts.truth.error[rows][irregular]
    if kind[irregular] == Irregularity.METER_ERROR:
        assert errors[irregular] == pytest.approx(truth, abs=0.015)
    else:
        assert rank_meters(errors)[0] == irregular
        assert errors[irregular] == pytest.approx(truth, abs=0.05)


def test_a_plain_balance_with_known_loss_gives_the_exact_errors() -> None:
    rng = np.random.default_rng(3)
    true = rng.gamma(1.5, 0.2, (12, 96 * 10))
    registered = true.copy()
    registered[4] *= 0.6  # a bypass hiding 40 %
    registered[7] *= 1.02  # a meter 2 % fast
    total = true.sum(axis=0)
    supply = total + 0.01 + 0.002 * total**2  # no-load and I^2 R losses, no noise
    errors = estimate_meter_errors(supply, registered)
    assert errors[4] == pytest.approx(-0.4, abs=0.01)
    assert errors[7] == pytest.approx(0.02, abs=0.005)
    assert np.abs(np.delete(errors, [4, 7])).max() < 0.005


@pytest.mark.parametrize("seed", range(10))
def test_daily_data_given_without_its_steps_per_day_is_fitted_whole(seed: int) -> None:
    # 60 daily totals of 30 customers, called as if they were 15-minute data: a fit per part
    # of the day would rest on two or three intervals for 30 unknowns (3 of these 10 seeds
    # then missed the bypass). The blocks shrink to what the intervals carry.
    rng = np.random.default_rng(seed)
    common = 1.0 + 0.3 * np.sin(np.arange(60) / 7.0)
    size = rng.gamma(2.0, 0.5, (30, 1))
    true = size * (0.6 * common + 0.4 * rng.gamma(4.0, 0.25, (30, 60)))
    registered = true.copy()
    registered[5] *= 0.6  # a bypass hiding 40 %
    total = true.sum(axis=0)
    errors = estimate_meter_errors(total * 1.02 + 0.001 * total**2, registered)
    assert rank_meters(errors)[0] == 5
    assert errors[5] == pytest.approx(-0.4, abs=0.03)


def test_a_meter_reading_nothing_comes_out_near_minus_one() -> None:
    rng = np.random.default_rng(4)
    true = rng.gamma(1.5, 0.2, (10, 96 * 10))
    registered = true.copy()
    registered[2] = 0.0
    errors = estimate_meter_errors(true.sum(axis=0) * 1.03, registered)
    assert errors[2] == pytest.approx(-1.0, abs=0.01)
    assert rank_meters(errors)[0] == 2


def test_missing_intervals_are_left_out_not_filled() -> None:
    rng = np.random.default_rng(6)
    true = rng.gamma(1.5, 0.2, (8, 96 * 8))
    registered = true.copy()
    registered[1] *= 0.5
    registered[3, 50:80] = np.nan
    supply = true.sum(axis=0) * 1.02
    supply[200] = np.nan
    errors = estimate_meter_errors(supply, registered)
    assert errors[1] == pytest.approx(-0.5, abs=0.02)
    assert not np.isnan(errors).any()


def test_the_monitor_raises_an_abnormal_loss_when_a_bypass_starts() -> None:
    sim = simulate_districts(1, 30, 20, seed=8, irregular=0)
    monitor = LossMonitor(1, 96)
    alerts = []
    for day in range(20):
        readings = sim.curves[:, day * 96 : (day + 1) * 96].astype(float)
        if day >= 15:
            readings[:5] *= 0.5  # five customers bypass half their load
        alerts.append(monitor.add_day(sim.supply[:, day * 96 : (day + 1) * 96], readings, [0] * 30))
    assert all(not day for day in alerts[:15])
    assert alerts[15] and alerts[15][0].reason in {"jump", "high"}
    assert alerts[15][0].rate > alerts[15][0].usual
    assert monitor.history().shape == (1, 20)


def test_arrays_that_do_not_line_up_are_refused() -> None:
    with pytest.raises(AnalysisInputError):
        estimate_meter_errors(np.ones(10), np.ones((3, 9)))
    with pytest.raises(AnalysisInputError):
        estimate_meter_errors(np.ones(10), np.ones(10))


def test_honest_meters_stay_close_to_zero_beside_each_kind_of_irregular_meter() -> None:
    # One district per irregularity (bypass, +/-2 %, evening theft, broken): the honest
    # meters' estimates are fitted over the whole day (second stage) and, beside a broken
    # meter, from the intervals it still read, so they scatter well under 1.2 % rms.
    sim = simulate_districts(4, 100, 30, seed=16)
    for district in range(4):
        rows = sim.district == district
        errors = estimate_meter_errors(sim.supply[district], sim.curves[rows])
        honest = sim.truth.irregularity[rows] == Irregularity.NONE
        assert float(np.sqrt(np.mean(errors[honest] ** 2))) < 0.012
        assert sim.truth.irregularity[rows][rank_meters(errors)[0]] != Irregularity.NONE


def test_with_the_feeders_known_a_two_per_cent_meter_is_found_within_half_a_point() -> None:
    # The one-feeder loss model misplaces each customer's share of the losses by its feeder's
    # load share; told the feeders, the fit models each feeder's I^2 R loss and the honest
    # meters' scatter drops several-fold, so a +/-2 % meter is estimated within 0.5 pp.
    sim = simulate_districts(4, 100, 30, seed=16)
    for district in range(4):  # bypass, +/-2 %, evening theft, broken
        rows = sim.district == district
        plain = estimate_meter_errors(sim.supply[district], sim.curves[rows])
        known = estimate_meter_errors(
            sim.supply[district], sim.curves[rows], feeders=sim.feeder[rows]
        )
        honest = sim.truth.irregularity[rows] == Irregularity.NONE
        rms_known = float(np.sqrt(np.mean(known[honest] ** 2)))
        assert rms_known < 0.005
        assert rms_known < 0.6 * float(np.sqrt(np.mean(plain[honest] ** 2)))
        top = rank_meters(known)[0]
        assert sim.truth.irregularity[rows][top] != Irregularity.NONE
        if sim.truth.irregularity[rows][top] == Irregularity.METER_ERROR:
            assert abs(known[top] - sim.truth.error[rows][top]) < 0.005
        else:  # the big errors are found to a couple of points
            assert abs(known[top] - sim.truth.error[rows][top]) < 0.05
    assert (sim.truth.irregularity[sim.district == 1] == Irregularity.METER_ERROR).any()


def test_feeders_that_do_not_name_each_meter_are_refused() -> None:
    with pytest.raises(AnalysisInputError):
        estimate_meter_errors(np.ones(10), np.ones((3, 10)), feeders=[0, 1])
    with pytest.raises(AnalysisInputError):
        estimate_meter_errors(np.ones(10), np.ones((3, 10)), feeders=[0.5, 1.0, 0.0])
