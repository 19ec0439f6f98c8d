"""Theft scores: each Jokar injection into one meter of a seeded fleet puts that meter first;
the day-at-a-time state scores exactly as the batch; the optional evidence adds up."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError, score_meters
from wattguard.analytics.anomaly import (
    AnomalyState,
    balance_evidence,
    calibrate_threshold,
    day_features,
    rolling_scores,
    score_days,
)
from wattguard.analytics.injection import inject
from wattguard.simulation.district import simulate_districts


@pytest.fixture(scope="module")
def fleet() -> np.ndarray:
    sim = simulate_districts(1, 60, 28, seed=9, irregular=0)
    return sim.curves.astype(np.float64)


@pytest.mark.parametrize("attack", [1, 2, 3, 4, 5, 6])
def test_an_injected_meter_ranks_first(fleet: np.ndarray, attack: int) -> None:
    curves = fleet.copy()
    target = 17
    days = curves[target].reshape(28, 96)
    days[-7:] = inject(days[-7:], attack, np.random.default_rng(attack))
    curves[target] = days.ravel()
    scores = score_meters(curves, 96)
    assert int(np.argmax(scores)) == target
    honest = score_meters(fleet, 96)
    assert scores[target] > honest[target]


def test_the_state_scores_like_the_batch(fleet: np.ndarray) -> None:
    batch = score_days(fleet, 96)
    state = AnomalyState(fleet.shape[0], 96)
    for day in range(28):
        np.testing.assert_allclose(
            state.add_day(fleet[:, day * 96 : (day + 1) * 96]), batch[:, day]
        )
    assert np.isnan(batch[:, :7]).all() and not np.isnan(batch[:, 7:]).any()


def test_balance_and_tamper_evidence_raise_a_score(fleet: np.ndarray) -> None:
    base = score_meters(fleet, 96)
    errors = np.zeros(60)
    errors[3] = -0.4
    events = np.zeros(60)
    events[5] = 4
    more = score_meters(fleet, 96, meter_errors=errors, events=events)
    assert more[3] > base[3] + 5 and more[5] > base[5] + 1
    assert np.allclose(np.delete(more, [3, 5]), np.delete(base, [3, 5]))


def test_missing_days_are_not_scored_and_bad_input_is_refused(fleet: np.ndarray) -> None:
    curves = fleet.copy()
    curves[2, -96:] = np.nan
    assert np.isnan(score_days(curves, 96)[2, -1])
    with pytest.raises(AnalysisInputError):
        score_meters(fleet, 95)
    with pytest.raises(AnalysisInputError):
        score_meters(fleet, 96, events=-np.ones(60))


def test_complete_days_take_the_fast_path_with_the_same_figures(fleet: np.ndarray) -> None:
    day = fleet[:, :96]
    usual = fleet[:, 96:192]
    fast = day_features(day, usual)
    with_gap = day.copy()
    with_gap[0, 0] = np.nan  # one missing interval sends the whole day down the NaN path
    slow = day_features(with_gap, usual)
    np.testing.assert_allclose(fast[1:], slow[1:], rtol=1e-9)


def test_a_threshold_calibrated_on_honest_history_holds_its_false_positive_rate() -> None:
    sim = simulate_districts(2, 100, 42, seed=21, irregular=0)
    meter_scores = rolling_scores(score_days(sim.curves, 96, sim.district))
    # the last day's rolling score is what score_meters gives
    np.testing.assert_allclose(
        meter_scores[:, -1], score_meters(sim.curves, 96, groups=sim.district), rtol=1e-9
    )
    # after two weeks of warm-up (the first scored days are noisier, see the station)
    history, later = meter_scores[:, 14:28], meter_scores[:, 28:]
    for rate in (0.05, 0.01):
        threshold = calibrate_threshold(history, rate)
        seen = later[~np.isnan(later)]
        assert 0.2 * rate <= float(np.mean(seen > threshold)) <= 3 * rate
    assert np.isnan(calibrate_threshold(np.arange(50.0), 0.01))  # under 1 / rate scores
    with pytest.raises(AnalysisInputError):
        calibrate_threshold(history, 1.5)


@pytest.fixture(scope="module")
def district() -> tuple[np.ndarray, np.ndarray]:
    sim = simulate_districts(1, 60, 28, seed=9, irregular=0)
    return sim.curves.astype(np.float64), sim.supply


@pytest.mark.parametrize("attack", [2, 4, 6])
def test_the_balance_points_at_the_meter_whose_missing_energy_it_sees(
    district: tuple[np.ndarray, np.ndarray], attack: int
) -> None:
    curves, supply = district
    tampered = curves.copy()
    days = tampered[17].reshape(28, 96)
    days[-7:] = inject(days[-7:], attack, np.random.default_rng(attack))
    tampered[17] = days.ravel()
    evidence = balance_evidence(tampered, supply, np.zeros(60, dtype=np.intp), 96, 7)
    assert evidence[17] > 0
    assert (np.delete(evidence, 17) == 0).all()
    plain = score_meters(tampered, 96)
    told = score_meters(tampered, 96, supply=supply)
    np.testing.assert_allclose(told, plain + evidence)


def test_a_load_that_really_fell_gets_no_balance_evidence(
    district: tuple[np.ndarray, np.ndarray],
) -> None:
    curves, supply = district
    curves, supply = curves.copy(), supply.copy()
    cut = curves[17, -7 * 96 :] * 0.6  # the customer is away: the district meter sees it too
    curves[17, -7 * 96 :] -= cut
    supply[0, -7 * 96 :] -= cut
    assert score_meters(curves, 96)[17] > 1.0  # consumption alone finds the drop
    evidence = balance_evidence(curves, supply, np.zeros(60, dtype=np.intp), 96, 7)
    assert evidence[17] == 0


def test_balance_evidence_refuses_supply_that_does_not_line_up(
    district: tuple[np.ndarray, np.ndarray],
) -> None:
    curves, supply = district
    with pytest.raises(AnalysisInputError):
        balance_evidence(curves, supply, np.ones(60, dtype=np.intp), 96)
    with pytest.raises(AnalysisInputError):
        balance_evidence(curves, supply[:, :-96], np.zeros(60, dtype=np.intp), 96)
    with pytest.raises(AnalysisInputError):
        balance_evidence(curves, supply, np.zeros(59, dtype=np.intp), 96)
    short = balance_evidence(curves[:, : 10 * 96], supply[:, : 10 * 96], np.zeros(60, np.intp), 96)
    assert (short == 0).all()  # under MIN_HISTORY days before the window: nothing to tell


def test_balance_evidence_leaves_gaps_out(district: tuple[np.ndarray, np.ndarray]) -> None:
    curves, supply = district
    tampered, supply = curves.copy(), supply.copy()
    days = tampered[17].reshape(28, 96)
    days[-7:] = inject(days[-7:], 6, np.random.default_rng(6))
    tampered[17] = days.ravel()
    tampered[3, 100:300] = np.nan  # a gap in the history
    tampered[4, : 21 * 96] = np.nan  # no history at all: no usual day to drop from
    tampered[5, -50:] = np.nan  # a gap in the window: those intervals are left out
    supply[0, -130:-100] = np.nan
    evidence = balance_evidence(tampered, supply, np.zeros(60, dtype=np.intp), 96, 7)
    assert evidence[17] > 0 and evidence[4] == 0
    assert (np.delete(evidence, 17) == 0).all()
