"""Tariff advice and demand-response selection, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError
from wattguard.analytics.tariff import (
    Flat,
    Tiered,
    TimeOfUse,
    advise,
    bills,
    select_curtailment,
    shed_report,
)

TARIFFS = {
    "flat": Flat(0.5),
    "tou": TimeOfUse((0.2, 0.8)),
    "tiered": Tiered(limits=(10.0,), prices=(0.3, 0.9), period_days=2),
}


def test_bills_and_the_cheapest() -> None:
    # two customers, two days of two steps: a night user and a day user
    curves = np.array([[5.0, 1.0, 5.0, 1.0], [1.0, 5.0, 1.0, np.nan]])
    names, table = bills(curves, 2, TARIFFS)
    assert names == ["flat", "tou", "tiered"]
    assert table[0] == pytest.approx([6.0, 10 * 0.2 + 2 * 0.8, 10 * 0.3 + 2 * 0.9])
    assert table[1] == pytest.approx([3.5, 2 * 0.2 + 5 * 0.8, 7 * 0.3])
    cheapest, _ = advise(curves, 2, TARIFFS)
    assert cheapest == ["tou", "tiered"]


def test_tiers_restart_each_billing_period() -> None:
    tiered = {"t": Tiered(limits=(10.0,), prices=(1.0, 2.0), period_days=1)}
    _, table = bills(np.array([[8.0, 8.0]]), 1, tiered)  # 8 kWh a day, never over 10
    assert table[0, 0] == 16.0


def test_curtails_the_cheapest_comfort_first() -> None:
    result = select_curtailment(
        target_kw=10.0,
        load_kw=[7.0, 7.0, 3.0],
        floor_kw=[0.0, 1.4, 0.0],
        comfort_per_kw=[3.0, 1.0, 2.0],
    )
    assert result.cut.tolist() == pytest.approx([1.4, 5.6, 3.0])
    assert result.limits.tolist() == pytest.approx([5.6, 1.4, 0.0])
    assert result.shed_kw == pytest.approx(10.0)
    assert result.comfort == pytest.approx(1.4 * 3 + 5.6 + 6.0)
    assert result.shortfall_kw == 0.0


def test_says_what_could_not_be_shed() -> None:
    result = select_curtailment(20.0, [7.0, 3.0], [2.0, 0.0], [1.0, 1.0])
    assert result.shed_kw == pytest.approx(8.0)
    assert result.shortfall_kw == pytest.approx(12.0)


def test_shed_report_and_bad_input() -> None:
    assert shed_report(10.0, [6.0, 6.0], [1.0, 3.0], 1.0) == pytest.approx((8.0, 0.8))
    with pytest.raises(AnalysisInputError):
        select_curtailment(1.0, [1.0], [0.0, 0.0], [1.0])
    with pytest.raises(AnalysisInputError):
        bills(np.ones((1, 4)), 2, {"t": TimeOfUse((1.0, 2.0, 3.0))})
