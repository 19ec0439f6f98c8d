"""`wattguard station --charging`: what the job sees each pile draw, and the demand
response it measures, come from the piles' stored readings (FF13 in the meters' 15-minute
curve), not from the limits it sent; a reading that never comes is counted missing; the
forecast's history is the supply meter's stored curve when the station has it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from wattguard.clock import VirtualClock
from wattguard.meter.management.pile_energy import fit_pile
from wattguard.network.bus import InProcessBus
from wattguard.runtime.charging_runtime import OWNER
from wattguard.runtime.deployment import Deployment, DeploymentConfig
from wattguard.runtime.station_charging import StationCharging
from wattguard.station import Station
from wattguard.station.api import create_app
from wattguard.station.ingest import Reading
from wattguard.station.pile_readings import PILE_CURVE, SUPPLY_CURVE
from wattguard.station.storage import open_storage

T0 = 1_796_083_200.0 + 15 * 3600  # 15:00 UTC
NOON = T0 - 3 * 3600
DISTRICT, PILES = "990000000001", ["000001000001", "000001000002"]
SUPPLY = "000001000000"
STEP = 900


def _station(tmp_path: Path, clock: VirtualClock) -> tuple[Station, Path]:
    path = tmp_path / "charging.json"
    path.write_text(json.dumps({"districts": [{
        "district": DISTRICT, "capacity_kw": 30, "base_kw": 12.5, "price": 0.5,
        "piles": [{"meter": m, "max_kw": 7} for m in PILES]}]}))  # fmt: skip
    station = Station(open_storage(f"sqlite:///{tmp_path / 's.db'}"), InProcessBus(), clock)
    for meter in PILES:
        station.register_meter(bytes.fromhex(meter), bytes.fromhex(DISTRICT))
    return station, path


def _store_piles(station: Station, at: float, energy: dict[str, float]) -> None:
    station.storage.add_readings(
        [Reading(m, PILE_CURVE, int(at), kwh) for m, kwh in energy.items()]
    )


def test_a_pile_drawing_less_than_its_limit_is_seen_from_its_readings(tmp_path: Path) -> None:
    """The EV at pile 0 is nearly full: whatever its limit, it draws 1 kW, and its meter's
    curve says so. The job's draw and the demand response's result are the readings'; with
    the limits taken as drawn (the old way) the response would report only the cut."""
    clock = VirtualClock(T0)
    station, path = _station(tmp_path, clock)
    jobs = StationCharging(station, path)
    job = station.charging[DISTRICT]
    job.plug_in(PILES[0], 20.0, T0 + 3 * 3600, T0)  # due in 3 h: it charges at once
    energy = dict.fromkeys(PILES, 100.0)
    _store_piles(station, T0, energy)
    jobs.tick(T0)
    response = job.demand_response(2.0, T0, hours=1.0)
    assert response.cut == {PILES[0]: pytest.approx(2.0)}
    for _ in range(4):
        clock.advance(STEP)
        energy[PILES[0]] += 0.25  # 1 kW for the quarter hour
        _store_piles(station, clock.time(), energy)
        jobs.tick(clock.time())
    t = job.interval(T0)
    assert job.pile_kwh[0, t : t + 4] == pytest.approx([0.25] * 4)
    assert job.pile_kwh[1, t : t + 4] == pytest.approx([0.0] * 4)
    assert job.sessions[0].delivered_kwh == pytest.approx(1.0)
    assert response.measured and response.missing == 0
    assert response.drawn_kwh[PILES[0]] == pytest.approx(1.0)
    planned = response.baseline_kwh[PILES[0]]  # 7 kW for the hour, had there been no response
    assert response.shed_kw == pytest.approx(planned - 1.0)  # 6 kW shed, not the 2 kW cut
    assert response.shed_kw > 5.0
    assert job.missing_readings == 0


def test_a_missing_reading_is_counted_after_the_grace_never_filled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "wattguard.station.pile_readings")
    clock = VirtualClock(T0)
    station, path = _station(tmp_path, clock)
    jobs = StationCharging(station, path)
    job = station.charging[DISTRICT]
    job.plug_in(PILES[0], 20.0, T0 + 3 * 3600, T0)
    energy = dict.fromkeys(PILES, 100.0)
    _store_piles(station, T0, energy)
    jobs.tick(T0)
    response = job.demand_response(2.0, T0, hours=1.0)
    t = job.interval(T0)
    for k in range(1, 8):
        clock.advance(STEP)
        energy[PILES[0]] += 1.25  # 5 kW, its limit in the response
        if k == 2:  # pile 1's meter missed this boundary: its reading never arrives
            _store_piles(station, clock.time(), {PILES[0]: energy[PILES[0]]})
        else:
            _store_piles(station, clock.time(), energy)
        jobs.tick(clock.time())
        if k == 2:  # the job waits for the reading within its grace
            assert np.isnan(job.pile_kwh[0, t + 1])
    # after the grace the interval is observed: pile 1 is missing there (twice: both
    # intervals that end or start at the missed boundary), pile 0 is read
    assert job.pile_kwh[0, t + 1] == pytest.approx(1.25)
    assert np.isnan(job.pile_kwh[1, t + 1]) and np.isnan(job.pile_kwh[1, t + 2])
    assert job.missing_readings == 2
    assert response.measured and response.missing == 2
    assert response.drawn_kwh[PILES[1]] is None  # left out of the measurement
    assert response.drawn_kwh[PILES[0]] == pytest.approx(5.0)
    planned = response.baseline_kwh[PILES[0]]
    assert response.shed_kw == pytest.approx(planned - 5.0)  # what pile 0 gave up
    view = job.view()
    assert view["missing_readings"] == 2 and view["drawn_ev_kw"][t + 1] is None
    # the log names the silent pile meter once, and what to do
    told = [r.getMessage() for r in caplog.records if "freeze objects" in r.getMessage()]
    assert len(told) == 1 and PILES[1] in told[0], told


def _supply_curve(station: Station, kw: float) -> None:
    """The supply meter's 15-minute curve over the week before the horizon: ``kw`` flat."""
    first = int(NOON) - 7 * 96 * STEP
    station.storage.add_readings(
        [Reading(SUPPLY, SUPPLY_CURVE, first + k * STEP, 5000.0 + k * kw * 0.25)
         for k in range(7 * 96 + 1)]
    )  # fmt: skip


def test_the_forecast_history_is_the_supply_meters_stored_curve(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    station, path = _station(tmp_path, clock)
    station.register_total_meter(bytes.fromhex(SUPPLY), bytes.fromhex(DISTRICT))
    _supply_curve(station, 20.0)
    StationCharging(station, path)
    job = station.charging[DISTRICT]
    assert job.history_source == f"supply meter {SUPPLY} curve"
    assert job.forecast == pytest.approx(np.full(96, 20.0), abs=0.5)  # not the file's 12.5
    api = TestClient(create_app(station, {"viewer": OWNER}))
    served = api.get(f"/api/charging/{DISTRICT}", headers={"Authorization": "Bearer viewer"})
    assert served.json()["history_source"] == job.history_source


def test_without_the_supply_curve_the_configured_profile_is_the_history(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    station, path = _station(tmp_path, clock)
    station.register_total_meter(bytes.fromhex(SUPPLY), bytes.fromhex(DISTRICT))
    station.storage.add_readings([Reading(SUPPLY, SUPPLY_CURVE, int(NOON), 5000.0)])  # too few
    StationCharging(station, path)
    job = station.charging[DISTRICT]
    assert job.history_source == "configured profile"
    assert job.forecast == pytest.approx(np.full(96, 12.5), abs=0.5)


def test_the_station_has_the_terminal_collect_the_piles_and_sees_their_draw(
    tmp_path: Path,
) -> None:
    """End to end in a deployment: the station configures the district's terminal (6014 with
    the pile meters' addresses, 6012), the terminal collects their curve with FF13, the
    station stores it, and the job's draw is the meters' readings: pile 0's EV is nearly full
    and draws 1 kW whatever its limit."""
    start = 1_796_083_200.0 + 17 * 3600  # 17:00 UTC
    deployment = Deployment(
        DeploymentConfig(meters=6, per_terminal=6, seed=5, districts=True), VirtualClock(start)
    )
    net = deployment.nets[0]
    district = net.terminal.address.hex()
    meters = [m for m in net.fleet.meters][:2]
    piles = [m.address.hex() for m in meters]
    for meter in meters:
        fit_pile(meter.management.freezer)  # the piles' commissioning
    path = tmp_path / "charging.json"
    path.write_text(json.dumps({"districts": [{
        "district": district, "capacity_kw": 60, "base_kw": 10, "price": 0.5,
        "piles": [{"meter": p, "max_kw": 7} for p in piles]}]}))  # fmt: skip
    jobs = StationCharging(deployment.station, path)
    job = deployment.station.charging[district]
    job.plug_in(piles[0], 30.0, start + 8 * 3600, start)

    def ev(now: float) -> None:
        pile = meters[0].expansion.pile
        pile.requested = 1000.0  # nearly full: it takes 1 kW at most
        meters[0].pile_drawn(pile.setpoint, now)
        meters[1].pile_drawn(0.0, now)
        jobs.tick(now)

    deployment.on_tick.append(ev)
    deployment.run_virtual(3 * 3600)
    [task] = [t for t in net.terminal.tasks if t.name == "6012-17"]
    assert task.meters == {m.address for m in meters}
    stored = deployment.station.storage.readings(piles[0], PILE_CURVE)
    assert len(stored) >= 8
    t = job.interval(start)
    seen = job.pile_kwh[0, t + 2 : t + 8]  # from the first boundary the curve holds FF13
    assert np.isfinite(seen).all()
    assert seen == pytest.approx(np.full(6, 0.25), abs=0.02)  # 1 kW, not the 7 kW limit
    assert max(job.limits(k)[piles[0]] for k in range(t + 2, t + 8)) > 2.0
    assert np.nansum(job.pile_kwh[1]) == 0.0
