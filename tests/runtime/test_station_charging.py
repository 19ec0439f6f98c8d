"""`wattguard station --charging FILE`: the districts' jobs from the file, an EV plugged in
through the API, its limits issued as pile-limit commands of the job's owner at the next
tick, the state saved and resumed by a restarted station; a bad file is a ConfigError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from wattguard.clock import VirtualClock
from wattguard.errors import ConfigError
from wattguard.network.bus import InProcessBus
from wattguard.runtime.charging_runtime import OWNER
from wattguard.runtime.station_charging import StationCharging, load_charging
from wattguard.station import Station
from wattguard.station.api import create_app
from wattguard.station.commands import CommandKind, Role, User
from wattguard.station.ingest import Reading
from wattguard.station.pile_readings import PILE_CURVE
from wattguard.station.storage import open_storage

T0 = 1_796_083_200.0 + 15 * 3600  # 15:00 UTC
DISTRICT, PILES = "990000000001", ["000001000001", "000001000002"]
OPERATOR = {"Authorization": "Bearer operator"}


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "charging.json"
    path.write_text(json.dumps({"districts": [{
        "district": DISTRICT, "capacity_kw": 30, "base_kw": 12.5,
        "price": [0.9] * 28 + [0.35] * 40 + [0.9] * 28,  # from noon: cheap 19:00-05:00
        "piles": [{"meter": m, "max_kw": 7} for m in PILES]}]}))  # fmt: skip
    return path


def _station(tmp_path: Path, clock: VirtualClock) -> Station:
    station = Station(open_storage(f"sqlite:///{tmp_path / 's.db'}"), InProcessBus(), clock)
    for meter in PILES:
        station.register_meter(bytes.fromhex(meter), bytes.fromhex(DISTRICT))
    return station


def test_an_ev_plugged_in_through_the_api_gets_its_limits_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(T0)
    station = _station(tmp_path, clock)
    jobs = StationCharging(station, _file(tmp_path))
    api = TestClient(create_app(station, {"operator": User("otto", Role.OPERATOR),
                                          "viewer": User("vera", Role.VIEWER)}))  # fmt: skip
    path = f"/api/charging/{DISTRICT}/sessions"
    body = {"pile": PILES[0], "energy_kwh": 20.0, "depart": T0 + 15 * 3600}
    assert api.post(path, json=body, headers={"Authorization": "Bearer viewer"}).status_code == 403
    assert (
        api.post(path, json={**body, "pile": "000009999999"}, headers=OPERATOR).status_code == 404
    )
    assert api.post(path, json={**body, "depart": T0 - 1}, headers=OPERATOR).status_code == 422
    answer = api.post(path, json=body, headers=OPERATOR)
    assert answer.status_code == 200 and answer.json()["replan"]["unmet_kwh"] < 1e-6
    clock.advance(1)
    jobs.tick(clock.time())  # the re-plan's limits go out now
    issued = [c for c in station.commands.commands.values() if c.kind == CommandKind.PILE_LIMIT]
    assert issued and all(c.issued_by == OWNER.name for c in issued)
    assert {m for c in issued for m in c.meters} == set(PILES)
    assert any("EV at 000001000001" in row.detail for row in station.storage.audit())
    for _ in range(8):  # two hours: the EV waits for the cheap night
        clock.advance(900)
        jobs.tick(clock.time())
    job = station.charging[DISTRICT]
    planned = job.plan.power.sum() * job.step_hours if job.plan is not None else 0.0
    assert planned == pytest.approx(20.0, abs=1e-3)
    station.close()

    restarted = _station(tmp_path, clock)  # the same database
    StationCharging(restarted, _file(tmp_path))
    [session] = restarted.charging[DISTRICT].sessions
    assert (session.pile, session.energy_kwh) == (PILES[0], 20.0)
    assert restarted.charging[DISTRICT].replans[-1].reason == "restored after a restart"


@pytest.mark.parametrize(
    "document",
    ["not json", {"districts": []}, {"districts": [{"district": "x"}]},
     {"districts": [{"district": DISTRICT, "capacity_kw": 10, "piles": []}]},
     {"districts": [{"district": DISTRICT, "capacity_kw": 10, "base_kw": [1, 2],
                     "piles": [{"meter": PILES[0], "max_kw": 7}]}]}],
)  # fmt: skip
def test_a_bad_charging_file_says_what_is_wrong(tmp_path: Path, document: object) -> None:
    path = tmp_path / "bad.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(ConfigError):
        load_charging(path)


def test_the_measured_base_load_replans_when_the_forecast_misses(tmp_path: Path) -> None:
    """With the district's supply meter known, each interval's base load is its measured power
    less what the piles drew by their readings: a district drawing far above the file's base
    load re-plans."""
    clock = VirtualClock(T0)
    station = _station(tmp_path, clock)
    supply = "000001000000"
    station.register_total_meter(bytes.fromhex(supply), bytes.fromhex(DISTRICT))
    jobs = StationCharging(station, _file(tmp_path))
    job = station.charging[DISTRICT]
    before = len(job.replans)
    energy = 1000.0
    piles = [Reading(m, PILE_CURVE, int(T0), 3.0) for m in PILES]
    station.storage.add_readings(piles)
    for _ in range(3):  # 25 kW for 45 minutes, against a forecast of 12.5 kW
        clock.advance(900)
        energy += 25.0 * 0.25
        now = int(clock.time())
        station.storage.add_readings(
            [
                Reading(supply, "00100201", now, energy),
                *(Reading(m, PILE_CURVE, now, 3.0) for m in PILES),
            ]
        )
        jobs.tick(clock.time())
    t = job.interval(clock.time() - 450)
    assert job.actual[t] == pytest.approx(25.0)
    assert len(job.replans) > before and "forecast missed" in job.replans[-1].reason
    assert job.forecast[t + 1] == pytest.approx(25.0)  # the rest shifted by the miss


def test_without_a_supply_meter_the_forecast_stands(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    station = _station(tmp_path, clock)
    jobs = StationCharging(station, _file(tmp_path))
    job = station.charging[DISTRICT]
    for _ in range(3):
        clock.advance(900)
        jobs.tick(clock.time())
    assert all("forecast missed" not in r.reason for r in job.replans)
    assert np.isnan(job.actual[job.interval(clock.time() - 450)])
