"""Orderly EV charging: the LP's constraints on random feasible and infeasible instances,
small answers known by hand, re-planning, and the baselines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.analytics import AnalysisInputError
from wattguard.analytics.charging import (
    ChargingInfeasible,
    Session,
    plan,
    replan,
    schedule,
    uncontrolled,
    valley_first,
)

STEPS = 8
EPS = 1e-5


@st.composite
def instances(draw: st.DrawFn) -> tuple[np.ndarray, float, np.ndarray, list[Session]]:
    base = np.array(draw(st.lists(st.floats(0, 30), min_size=STEPS, max_size=STEPS)))
    price = np.array(draw(st.lists(st.floats(0.1, 2), min_size=STEPS, max_size=STEPS)))
    capacity = draw(st.floats(10, 60))
    sessions = []
    for _ in range(draw(st.integers(1, 6))):
        arrive = draw(st.integers(0, STEPS - 1))
        depart = draw(st.integers(arrive, STEPS))
        sessions.append(Session(arrive, depart, draw(st.floats(0, 40)), draw(st.floats(0, 11))))
    return base, capacity, price, sessions


def windows_max(base: np.ndarray, capacity: float, s: Session, step: float) -> float:
    """What session ``s`` could take alone: an upper bound on what any plan gives it."""
    room = np.maximum(capacity - base[s.arrive : s.depart], 0.0)
    return float(np.minimum(room, s.max_kw).sum() * step)


@settings(max_examples=60, deadline=None)
@given(instances(), st.sampled_from([0.25, 0.5, 1.0]))
def test_a_plan_keeps_every_constraint(
    instance: tuple[np.ndarray, float, np.ndarray, list[Session]], step: float
) -> None:
    base, capacity, price, sessions = instance
    result = plan(base, capacity, price, sessions, step)
    power = result.power
    assert power.shape == (len(sessions), STEPS)
    assert (power >= -EPS).all()
    headroom = np.maximum(capacity - base, 0.0)
    assert (power.sum(axis=0) <= headroom + EPS).all()
    for i, s in enumerate(sessions):
        assert (power[i] <= s.max_kw + EPS).all()
        outside = np.r_[power[i, : s.arrive], power[i, s.depart :]]
        assert np.abs(outside).max(initial=0.0) <= EPS
        delivered = power[i].sum() * step
        assert delivered <= s.energy_kwh + EPS
        assert delivered + result.unmet[i] == pytest.approx(s.energy_kwh, abs=1e-4)
    if result.unmet_sessions():
        with pytest.raises(ChargingInfeasible) as refused:
            schedule(base, capacity, price, sessions, step)
        assert refused.value.unmet == result.unmet_sessions()
    else:
        assert np.allclose(schedule(base, capacity, price, sessions, step), power, atol=1e-4)
    # the LP's cost is never above the greedy rule's when both deliver everything
    greedy = valley_first(base, capacity, price, sessions, step)
    if np.allclose(greedy.sum(axis=1) * step, [s.energy_kwh for s in sessions], atol=1e-6):
        assert result.cost <= float(greedy.sum(axis=0) @ price * step) + 1e-4
    assert result.cost >= result.cost_bound - 1e-4 * (1 + abs(result.cost))


@settings(max_examples=30, deadline=None)
@given(instances())
def test_infeasible_instances_deliver_the_most_possible(
    instance: tuple[np.ndarray, float, np.ndarray, list[Session]],
) -> None:
    base, capacity, price, sessions = instance
    lone = sessions[:1]
    result = plan(base, capacity, price, lone, 1.0)
    reachable = min(windows_max(base, capacity, lone[0], 1.0), lone[0].energy_kwh)
    assert lone[0].energy_kwh - result.unmet[0] == pytest.approx(reachable, abs=1e-4)


@settings(max_examples=30, deadline=None)
@given(instances())
def test_overloaded_instances_are_refused_with_the_exact_shortfall(
    instance: tuple[np.ndarray, float, np.ndarray, list[Session]],
) -> None:
    base, capacity, price, drawn = instance
    # every car plugged in all along and wanting more than its pile could give it alone
    sessions = [Session(0, STEPS, s.max_kw * STEPS + 1.0, s.max_kw) for s in drawn]
    piles = sum(s.max_kw for s in sessions)
    deliverable = np.minimum(np.maximum(capacity - base, 0.0), piles).sum()
    want = sum(s.energy_kwh for s in sessions)
    with pytest.raises(ChargingInfeasible) as refused:
        schedule(base, capacity, price, sessions, 1.0)
    assert set(refused.value.unmet) == set(range(len(sessions)))
    assert sum(refused.value.unmet.values()) == pytest.approx(want - deliverable, abs=1e-3)
    assert str(len(sessions)) in str(refused.value)


def test_no_sessions_no_power() -> None:
    result = plan(np.ones(3), 10.0, np.ones(3), [], 1.0)
    assert result.power.shape == (0, 3) and result.cost == 0.0 and not result.unmet_sessions()


def test_charges_in_the_cheap_hours_then_flattens_the_peak() -> None:
    base = np.array([10.0, 10.0, 5.0, 5.0])
    price = np.array([3.0, 3.0, 1.0, 1.0])
    sessions = [Session(0, 4, 10.0, 10.0), Session(1, 3, 4.0, 4.0)]
    power = schedule(base, 20.0, price, sessions, 1.0)
    # all 14 kWh in the cheap hours 2 and 3 (cost 14), split so both hours reach 12 kW
    assert power[:, :2] == pytest.approx(np.zeros((2, 2)), abs=1e-5)
    assert power.sum(axis=0)[2:] == pytest.approx([7.0, 7.0], abs=1e-4)
    assert power[1, 2] == pytest.approx(4.0, abs=1e-4)


def test_says_which_sessions_are_short_and_by_how_much() -> None:
    base = np.zeros(2)
    sessions = [Session(0, 2, 5.0, 10.0), Session(0, 2, 30.0, 10.0)]
    with pytest.raises(ChargingInfeasible) as refused:
        schedule(base, 12.0, np.ones(2), sessions, 1.0)
    assert set(refused.value.unmet) <= {0, 1}
    assert sum(refused.value.unmet.values()) == pytest.approx(35.0 - 24.0, abs=1e-4)
    assert refused.value.plan.power.sum() == pytest.approx(24.0, abs=1e-4)


def test_replan_keeps_the_past_and_charges_what_is_left() -> None:
    base = np.array([0.0, 0.0, 0.0, 0.0])
    price = np.array([1.0, 2.0, 3.0, 1.0])
    sessions = [Session(0, 4, 8.0, 4.0)]
    first = schedule(base, 10.0, price, sessions, 1.0)
    # only 2 kWh went in during interval 0; a new EV plugs in at 1
    sessions.append(Session(1, 4, 4.0, 4.0))
    again = replan(base, 10.0, price, sessions, 1.0, 1, [2.0, 0.0], np.vstack([first, [0] * 4]))
    assert again.power[0, 0] == pytest.approx(first[0, 0])
    assert again.power[:, 1:].sum(axis=1) == pytest.approx([6.0, 4.0], abs=1e-4)
    assert not again.unmet_sessions()


def test_baselines() -> None:
    base = np.array([10.0, 10.0, 5.0, 5.0])
    price = np.array([3.0, 3.0, 1.0, 1.0])
    sessions = [Session(0, 4, 10.0, 10.0), Session(1, 3, 4.0, 4.0)]
    assert uncontrolled(base, sessions, 1.0).tolist() == [[10, 0, 0, 0], [0, 4, 0, 0]]
    greedy = valley_first(base, 20.0, price, sessions, 1.0)
    assert greedy.tolist() == [[0, 0, 0, 10], [0, 0, 4, 0]]
    # price first, load only between equal prices: the loaded but cheaper interval wins
    cheap_but_loaded = valley_first(
        [0.0, 10.0, 0.0], 20.0, [2.0, 1.0, 2.0], [Session(0, 3, 5, 10)], 1.0
    )
    assert cheap_but_loaded.tolist() == [[0, 5, 0]]
    ties = valley_first([3.0, 1.0, 2.0], 20.0, [1.0, 1.0, 1.0], [Session(0, 3, 5, 10)], 1.0)
    assert ties.tolist() == [[0, 5, 0]]


def test_refuses_a_window_outside_the_horizon() -> None:
    with pytest.raises(AnalysisInputError):
        plan(np.zeros(3), 10.0, np.ones(3), [Session(2, 5, 1.0, 1.0)], 1.0)
