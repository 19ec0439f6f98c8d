"""The station's orderly-charging job for a district: the plan under the transformer's capacity,
re-planned when an EV plugs in or the forecast misses, limits delivered per pile, and a
demand response measured afterwards from what the piles drew."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.station.charging import DistrictCharging, PileSpec

STEP = 900
STEPS = 96
T0 = 1_796_000_400.0 - (1_796_000_400 % 86400)  # a midnight
CAPACITY = 120.0


def _base(days: int) -> np.ndarray:
    t = np.arange(days * STEPS)
    hour = (t % STEPS) / 4
    return 40.0 + 45.0 * np.exp(-((hour - 19.0) ** 2) / 6.0) + 10.0 * np.sin(t / 7.0) ** 2


def _job(piles: int = 6, deliveries: list[tuple[str, float]] | None = None) -> DistrictCharging:
    sent = deliveries if deliveries is not None else []
    price = np.where((np.arange(STEPS) // 4 >= 7) & (np.arange(STEPS) // 4 < 23), 0.8, 0.3)
    specs = [PileSpec(f"pile-{i}", 11.0, comfort_per_kw=1.0 + i) for i in range(piles)]
    deliver = {s.name: lambda pile, kw: sent.append((pile, kw)) for s in specs}
    job = DistrictCharging("000000000001", CAPACITY, STEP, price, specs, deliver)
    job.begin(T0, _base(7))
    return job


def _run(job: DistrictCharging, base: np.ndarray, obey: bool = True) -> list[dict[str, float]]:
    """Dispatch each interval, the piles drawing their limits (or 11 kW if not obeying)."""
    sent = []
    for t in range(job.interval(job.start + 0), STEPS):
        now = job.start + t * STEP
        if t == 68:  # 17:00: four EVs plug in, leaving at 07:00 next... within the day: 23:45
            for i in range(4):
                job.plug_in(f"pile-{i}", 30.0, job.start + STEPS * STEP, now)
        limits = job.dispatch(now)
        sent.append(limits)
        drawn = {p: (kw if obey else 11.0) for p, kw in limits.items()}
        job.observe(now + STEP, float(base[t]), drawn)
    return sent


def test_the_plan_keeps_the_capacity_and_delivers_every_session() -> None:
    deliveries: list[tuple[str, float]] = []
    job = _job(deliveries=deliveries)
    base = _base(8)[-STEPS:]
    sent = _run(job, base)
    ev = np.array([sum(limits.values()) for limits in sent])
    assert (ev + base <= CAPACITY + 1e-6).all()  # the forecast is good enough here
    assert all(kw <= 11.0 + 1e-9 for limits in sent for kw in limits.values())
    assert [s.delivered_kwh for s in job.sessions] == pytest.approx([30.0] * 4, abs=1e-3)
    assert ev[:68].sum() == 0 and ev.max() > 0
    # the cheap night (after 23:00) is used before the dear evening where possible
    assert ev[92:].mean() >= ev[68:92].mean()
    assert len(deliveries) == 6 * STEPS  # every pile, every interval, through its callable
    assert [r.reason for r in job.replans[:1]] == ["new horizon"]
    assert sum("plugged in" in r.reason for r in job.replans) == 4


def test_a_forecast_miss_replans_under_the_capacity() -> None:
    job = _job()
    base = _base(8)[-STEPS:].copy()
    base[70:] += 25.0  # a cold evening: 25 kW more than any day before
    sent = _run(job, base)
    misses = [r for r in job.replans if "forecast missed" in r.reason]
    assert misses and misses[0].interval == 71
    ev = np.array([sum(limits.values()) for limits in sent])
    assert (ev[72:] + base[72:] <= CAPACITY + 1e-6).all()  # after the re-plan
    assert sum(s.delivered_kwh for s in job.sessions) > 0


def test_demand_response_picks_the_least_comfort_and_is_measured_from_readings() -> None:
    job = _job()
    base = _base(8)[-STEPS:]
    for i in range(4):
        job.plug_in(f"pile-{i}", 30.0, T0 + STEPS * STEP, T0 + 10 * STEP)
    for t in range(10, 12):
        job.observe(T0 + (t + 1) * STEP, float(base[t]), job.dispatch(T0 + t * STEP))
    planned = job.limits(12)
    asked = 8.0
    response = job.demand_response(asked, T0 + 12 * STEP, hours=1.0)
    cheapest = min(planned, key=lambda p: int(p.split("-")[1]) if planned[p] > 0 else 99)
    assert next(iter(response.cut)) == cheapest  # pile-0 has the least comfort per kW
    assert sum(response.cut.values()) == pytest.approx(asked)
    for t in range(12, 16):
        limits = job.dispatch(T0 + t * STEP)
        assert all(limits[p] <= kw + 1e-9 for p, kw in response.limits.items())
        job.observe(T0 + (t + 1) * STEP, float(base[t]), limits)
    assert response.shed_kw == pytest.approx(asked, abs=1e-3)
    assert response.share == pytest.approx(1.0, abs=1e-3)
    view = job.view()
    assert view["demand_responses"][0]["shed_kw"] == response.shed_kw
    assert len(view["forecast_kw"]) == len(view["planned_ev_kw"]) == STEPS


def test_a_demand_response_the_piles_ignore_shows_in_the_readings() -> None:
    job = _job()
    for i in range(4):
        job.plug_in(f"pile-{i}", 30.0, T0 + STEPS * STEP, T0 + 10 * STEP)
    before = [job.limits(t) for t in range(12, 16)]
    response = job.demand_response(8.0, T0 + 12 * STEP, hours=1.0)
    assert response.cut
    for t, planned in zip(range(12, 16), before, strict=True):
        # the piles draw what the plan had them draw, as if no limit had come
        job.observe(T0 + (t + 1) * STEP, float(job.forecast[t]), planned)
    assert response.shed_kw == pytest.approx(0.0, abs=1e-6)
    assert response.share == pytest.approx(0.0, abs=1e-6)


def test_readings_of_other_piles_and_missing_values_are_left_out() -> None:
    job = _job()
    job.plug_in("pile-0", 10.0, T0 + STEPS * STEP, T0)
    replans = len(job.replans)
    job.observe(T0 + STEP, float("nan"), {"pile-0": float("nan"), "elsewhere": 5.0})
    assert len(job.replans) == replans  # a missing base load is no forecast miss
    assert job.sessions[0].delivered_kwh == 0.0 and np.nansum(job.pile_kwh) == 0.0
    assert np.isnan(job.actual[0])
    assert np.isnan(job.pile_kwh[:, 0]).all()  # missing stays missing, never 0
    assert job.missing_readings == 6  # every pile of the district, none read
    assert job.view()["drawn_ev_kw"][0] is None


def test_a_pile_drawing_less_than_its_limit_shows_in_the_response() -> None:
    """The EV at one pile is nearly full and draws 1 kW whatever its limit: the readings say
    so, and the shed is measured from them, not from the limits the piles were sent."""
    job = _job()
    for i in range(4):
        job.plug_in(f"pile-{i}", 30.0, T0 + STEPS * STEP, T0 + 10 * STEP)
    response = job.demand_response(8.0, T0 + 12 * STEP, hours=1.0)
    full = max(response.limits, key=lambda p: response.limits[p])  # its limit is above 1 kW
    assert response.limits[full] > 1.0
    for t in range(12, 16):
        drawn = dict(job.dispatch(T0 + t * STEP))
        drawn[full] = 1.0  # read from its meter: it draws less than its limit
        job.observe(T0 + (t + 1) * STEP, float(job.forecast[t]), drawn)
    assert response.measured and response.missing == 0
    assert response.drawn_kwh[full] == pytest.approx(1.0)  # 4 intervals at 1 kW
    others = sum(kw for p, kw in response.cut.items() if p != full)
    expected = others + (response.baseline_kwh[full] - 1.0) / 1.0  # over the hour
    assert response.shed_kw == pytest.approx(expected, abs=1e-3)
    assert response.shed_kw > 8.0  # more than was cut: the readings, not the limits


def test_missing_readings_in_a_response_window_are_counted_not_filled() -> None:
    job = _job()
    for i in range(4):
        job.plug_in(f"pile-{i}", 30.0, T0 + STEPS * STEP, T0 + 10 * STEP)
    response = job.demand_response(8.0, T0 + 12 * STEP, hours=1.0)
    lost = next(iter(response.cut))
    for t in range(12, 16):
        drawn = dict(job.dispatch(T0 + t * STEP))
        if t == 13:
            del drawn[lost]  # its meter's reading never came
        job.observe(T0 + (t + 1) * STEP, float(job.forecast[t]), drawn)
    assert response.measured and response.missing == 1
    assert response.drawn_kwh[lost] is None
    # the pile without all its readings is left out: the rest shed what they were cut
    others = sum(kw for p, kw in response.cut.items() if p != lost)
    assert response.shed_kw == pytest.approx(others, abs=1e-3)
