"""``/api/charging``: the districts' orderly-charging jobs through the REST API: forecast
against actual, the plan against the capacity line, and a demand response (operator role)
whose result comes from the piles' readings afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from wattguard.clock import VirtualClock
from wattguard.network.bus import InProcessBus
from wattguard.station import Station
from wattguard.station.api import create_app
from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.station.commands import Role, User
from wattguard.station.storage import open_storage

STEP, STEPS = 900, 96
T0 = 1_795_996_800.0
DISTRICT = "0000000000a1"
VIEWER = {"Authorization": "Bearer viewer"}
OPERATOR = {"Authorization": "Bearer operator"}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, DistrictCharging, VirtualClock]:
    clock = VirtualClock(T0 + 40 * STEP)
    station = Station(open_storage(f"sqlite:///{tmp_path / 's.db'}"), InProcessBus(), clock)
    sent: list[tuple[str, float]] = []
    piles = [PileSpec("000000000001", 7.0, 1.0), PileSpec("000000000002", 11.0, 5.0)]
    job = DistrictCharging(
        DISTRICT, 80.0, STEP, np.full(STEPS, 0.4), piles,
        {p.name: lambda pile, kw: sent.append((pile, kw)) for p in piles},
    )  # fmt: skip
    hour = (np.arange(4 * STEPS) % STEPS) / 4
    job.begin(T0, 40 + 20 * np.exp(-((hour - 19) ** 2) / 6))
    for pile in piles:  # leaving in 4 hours, wanting all their piles can give by then
        job.plug_in(pile.name, pile.max_kw * 4, clock.time() + 4 * 3600, clock.time())
    users = {"viewer": User("vera", Role.VIEWER), "operator": User("otto", Role.OPERATOR)}
    app = create_app(station, users)
    app.state.charging = {DISTRICT: job}
    return TestClient(app), job, clock


def test_the_plan_and_the_forecast_are_served(
    setup: tuple[TestClient, DistrictCharging, VirtualClock],
) -> None:
    api, _, _ = setup
    listed = api.get("/api/charging", headers=VIEWER).json()["districts"]
    assert listed == [{"district": DISTRICT, "capacity_kw": 80.0,
                       "piles": ["000000000001", "000000000002"]}]  # fmt: skip
    view = api.get(f"/api/charging/{DISTRICT}", headers=VIEWER).json()
    assert len(view["times"]) == len(view["forecast_kw"]) == len(view["planned_ev_kw"]) == STEPS
    base = np.array(view["forecast_kw"])
    assert (base + np.array(view["planned_ev_kw"]) <= view["capacity_kw"] + 1e-6).all()
    assert sum(view["planned_ev_kw"]) * STEP / 3600 == pytest.approx(72.0, abs=1e-3)
    assert view["actual_kw"][0] is None and len(view["sessions"]) == 2


def test_a_demand_response_needs_an_operator_and_is_measured_after(
    setup: tuple[TestClient, DistrictCharging, VirtualClock],
) -> None:
    api, job, _ = setup
    path = f"/api/charging/{DISTRICT}/demand-response"
    assert api.post(path, json={"shed_kw": 5}, headers=VIEWER).status_code == 403
    assert api.post(path, json={"shed_kw": 5}).status_code == 401
    assert api.post(path, json={"shed_kw": -1}, headers=OPERATOR).status_code == 422
    assert api.post(path, json={"shed_kw": 1, "x": 1}, headers=OPERATOR).status_code == 422
    planned = [job.limits(t) for t in range(40, 44)]
    answer = api.post(path, json={"shed_kw": 5, "hours": 1}, headers=OPERATOR).json()
    assert list(answer["cut"]) == ["000000000001"]  # the least comfort per kW goes first
    assert answer["shortfall_kw"] == 0.0
    for t in range(40, 44):  # the piles obey: they draw the new limits
        job.observe(T0 + (t + 1) * STEP, float(job.forecast[t]), job.limits(t))
    result = api.get(f"/api/charging/{DISTRICT}", headers=VIEWER).json()["demand_responses"][0]
    assert [limits["000000000001"] for limits in planned] == pytest.approx([7.0] * 4)
    assert result["shed_kw"] == pytest.approx(5.0) and result["share"] == pytest.approx(1.0)
    assert result["drawn_kwh"]["000000000001"] == pytest.approx(2.0)  # 2 kW for an hour
    assert job.replans[-1].reason == "demand response ended"
    assert job.replans[-1].unmet_kwh == pytest.approx(5.0, abs=1e-3)  # no time to make it up


def test_unknown_districts_and_apps_without_jobs(
    setup: tuple[TestClient, DistrictCharging, VirtualClock],
) -> None:
    api, _, _ = setup
    assert api.get("/api/charging/0000000000ff", headers=VIEWER).status_code == 404
    assert api.get("/api/charging/nope'--", headers=VIEWER).status_code == 422
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/charging", "/api/charging/{district}",
            "/api/charging/{district}/demand-response"} <= set(paths)  # fmt: skip
    api.app.state.charging = None  # type: ignore[attr-defined]
    assert api.get("/api/charging", headers=VIEWER).json() == {"districts": []}
