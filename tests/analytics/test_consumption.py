"""Consumption figures on curves small enough to check by hand, and the day-at-a-time state
giving the same figures as the batch functions."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError, consumption

NAN = np.nan
# Two meters, two days of four 6-hour intervals (steps_per_day=4): kWh per interval.
CURVES = np.array(
    [
        [1.0, 2.0, 3.0, 4.0, 1.0, NAN, 3.0, 2.0],
        [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
    ]
)


def test_daily_energy_counts_missing_intervals_and_never_fills_them() -> None:
    assert consumption.daily_energy(CURVES, 4).tolist() == [[10.0, 6.0], [2.0, 0.0]]
    assert consumption.missing_per_day(CURVES, 4).tolist() == [[0, 1], [0, 0]]
    empty = np.full((1, 4), NAN)
    assert np.isnan(consumption.daily_energy(empty, 4)).all()


def test_monthly_energy_sums_the_days_of_each_month() -> None:
    daily = np.array([[1.0, 2.0, NAN, 4.0]])
    assert consumption.monthly_energy(daily, [0, 0, 1, 1]).tolist() == [[3.0, 4.0]]


def test_time_of_use_splits_by_the_tariff_table() -> None:
    tou = consumption.time_of_use(CURVES, 4, [3, 1, 1, 2])  # valley, peak, peak, flat
    assert tou.tolist() == [[0.0, 8.0, 6.0, 2.0], [0.0, 1.0, 0.5, 0.5]]


def test_maximum_demand_is_per_hour_with_its_step() -> None:
    demand, step = consumption.maximum_demand(CURVES, 4)
    assert demand.tolist() == [4.0 / 6.0, 0.5 / 6.0]
    assert step.tolist() == [3, 0]


def test_load_factor_base_load_and_typical_days() -> None:
    factor = consumption.load_factor(CURVES)
    assert factor[0] == pytest.approx((16.0 / 7.0) / 4.0)
    assert factor[1] == pytest.approx(0.25 / 0.5)
    # Night hours 01:00-05:00 are the first interval of a 6-hour day: its minimum per day.
    assert consumption.base_load(CURVES, 4).tolist() == [1.0 / 6.0, 0.25 / 6.0]
    weekday, weekend = consumption.typical_days(CURVES, 4, [False, True])
    assert weekday[0].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.isnan(weekend[0, 1]) and weekend[0, 2] == 3.0


def test_period_change_and_top_n() -> None:
    daily = np.array([[1.0, 1.0, 2.0, 2.0], [2.0, 2.0, 1.0, 1.0]])
    assert consumption.period_change(daily, 2).tolist() == [1.0, -0.5]
    assert consumption.top_n([3.0, NAN, 5.0, 1.0], 2).tolist() == [2, 0]


def test_aggregate_sums_a_group_and_counts_its_gaps() -> None:
    total, missing = consumption.aggregate(CURVES, [0, 0])
    assert total[0, :2].tolist() == [1.5, 2.5]
    assert missing[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]


def test_the_state_gives_the_batch_figures_day_by_day() -> None:
    rng = np.random.default_rng(1)
    curves = rng.gamma(2.0, 0.2, (5, 96 * 6))
    curves[1, 100:130] = NAN
    weekend = np.array([False, False, False, False, True, True])
    table = np.repeat([3, 2, 1, 0], 24)
    state = consumption.ConsumptionState(5, 96, table)
    for day in range(6):
        state.add_day(curves[:, day * 96 : (day + 1) * 96], weekend=bool(weekend[day]))
    np.testing.assert_allclose(state.daily(), consumption.daily_energy(curves, 96))
    np.testing.assert_array_equal(state.missing(), consumption.missing_per_day(curves, 96))
    np.testing.assert_allclose(state.time_of_use(), consumption.time_of_use(curves, 96, table))
    demand, step = consumption.maximum_demand(curves, 96)
    np.testing.assert_allclose(state.maximum_demand()[0], demand)
    np.testing.assert_array_equal(state.maximum_demand()[1], step)
    np.testing.assert_allclose(state.load_factor(), consumption.load_factor(curves))
    for mine, batch in zip(
        state.typical_days(), consumption.typical_days(curves, 96, weekend), strict=True
    ):
        np.testing.assert_allclose(mine, batch)


@pytest.mark.parametrize(
    "curves",
    [np.zeros(8), np.zeros((2, 7)), np.array([[1.0, np.inf, 1.0, 1.0]]), np.array([["a"] * 4])],
)
def test_curves_it_cannot_take_are_refused(curves: np.ndarray) -> None:
    with pytest.raises(AnalysisInputError):
        consumption.daily_energy(curves, 4)
