"""bench/analytics.py's "data's limit" for the +/-2 % meters: the spread an estimator that
knows the district meter's noise and the feeders would have. It must shrink as the data grow
(as 1/sqrt(days)), grow with the noise, and the quick localisation mode prints it and judges
the +/-2 % meters over all the days simulated."""

from __future__ import annotations

import numpy as np
import pytest
from test_chain_bench import bench_module

from wattguard.simulation.district import simulate_districts


@pytest.fixture(scope="module")
def analytics():  # type: ignore[no-untyped-def]
    return bench_module("analytics_bench", "analytics.py")


def test_the_limit_shrinks_as_one_over_the_root_of_the_days(analytics) -> None:  # type: ignore[no-untyped-def]
    sim = simulate_districts(4, 100, 16, seed=3)
    short, long = analytics.ideal_spread(sim, 4), analytics.ideal_spread(sim, 16)
    assert short.shape == long.shape == (1,)
    assert np.all(long > 0) and np.all(np.isfinite(short))
    assert 1.6 < float(short[0] / long[0]) < 2.5  # sqrt(16 / 4) = 2


def test_the_limit_scales_with_the_district_meters_noise(analytics, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sim = simulate_districts(4, 100, 8, seed=3)
    base = analytics.ideal_spread(sim, 8)
    monkeypatch.setattr(analytics, "SUPPLY_NOISE", 2 * analytics.SUPPLY_NOISE)
    assert analytics.ideal_spread(sim, 8) == pytest.approx(2 * base, rel=0.05)


def test_the_quick_mode_prints_the_limit_and_judges_all_days(analytics, capsys) -> None:  # type: ignore[no-untyped-def]
    status = analytics.localisation_only(400, [5], 32)
    out = capsys.readouterr().out
    assert "the data's limit over 30 days" in out and "the data's limit over 32 days" in out
    assert "feeders known, all 32 days" in out
    assert status in (0, 1) and ("MISSED" in out) == (status == 1)
