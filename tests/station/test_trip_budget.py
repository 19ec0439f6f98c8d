"""The solo trip budget through the REST API: a mass trip split into small commands waits for a
second person beyond the budget, per person and per district, and across a station restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wattguard.meter.management.relay import RelayState
from wattguard.network.bus import InProcessBus
from wattguard.runtime.deployment import FIXED_USERS, Deployment, DeploymentConfig, virtual_clock
from wattguard.station import Station, open_storage
from wattguard.station.api import create_app
from wattguard.station.commands import Role, User
from wattguard.testing import MIDNIGHT as START

OTTO = {"Authorization": "Bearer operator-token"}
OLGA = {"Authorization": "Bearer olga-operator-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
USERS = {**FIXED_USERS, "olga-operator-token": User("olga", Role.OPERATOR)}


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    config = DeploymentConfig(
        meters=100, per_terminal=25, start=START, database=f"sqlite:///{tmp_path}/station.db"
    )
    deployment = Deployment(config, virtual_clock(config), users=USERS)
    deployment.run_virtual(600)
    return deployment


def meters(api: TestClient) -> list[str]:
    return [m["address"] for m in api.get("/api/meters", headers=VIEWER).json()]


def trip(api: TestClient, who: dict[str, str], addresses: list[str]) -> dict[str, object]:
    answer = api.post("/api/commands", json={"kind": "trip", "meters": addresses}, headers=who)
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def open_relays(deployment: Deployment) -> int:
    return sum(
        1
        for net in deployment.nets
        for meter in net.meters.values()
        if meter.management.relay.state != RelayState.CLOSED
    )


def test_ten_small_trips_by_one_operator_wait_beyond_the_threshold(
    deployment: Deployment,
) -> None:
    api = TestClient(create_app(deployment.station, deployment.users))
    fleet = meters(api)
    answers = [trip(api, OTTO, fleet[10 * k : 10 * k + 10]) for k in range(10)]
    assert [a["state"] for a in answers] == ["sent"] + ["awaiting approval"] * 9
    assert answers[1]["reason"] == (
        "otto tripped 10 meters without a second person in the last 24 h; with these 10 that "
        "is 20, more than 10 per person: a second person with the supervisor role must "
        "approve it"
    )
    deployment.run_virtual(300)
    assert open_relays(deployment) == 10
    held = api.get("/api/events?kind=unauthorised", headers=VIEWER).json()
    assert len(held) == 9 and all("held" in e["detail"] for e in held)
    # a second person releases one: it goes out, and it does not count against otto twice
    approved = api.post(f"/api/commands/{answers[1]['id']}/approve", headers=SUPERVISOR)
    assert approved.status_code == 200 and approved.json()["state"] == "sent"
    deployment.run_virtual(300)
    assert open_relays(deployment) == 20
    one_more = trip(api, OTTO, fleet[99:100])
    assert one_more["state"] == "awaiting approval"
    assert "otto tripped 10 meters" in str(one_more["reason"])


def test_another_operator_is_counted_apart_but_the_district_is_shared(
    deployment: Deployment,
) -> None:
    api = TestClient(create_app(deployment.station, deployment.users))
    fleet = meters(api)  # 25 meters a terminal: fleet[0:25] is the first district
    assert trip(api, OTTO, fleet[:8])["state"] == "sent"
    assert trip(api, OLGA, fleet[50:55])["state"] == "sent"  # her own budget
    shared = trip(api, OLGA, fleet[8:10])  # 8 + 2 in otto's district: at the limit, not over
    assert shared["state"] == "sent"
    over = trip(api, OTTO, fleet[10:11])  # otto's 9 are within his budget, the district's 11 not
    assert over["state"] == "awaiting approval"
    terminal = deployment.station.terminal_of[fleet[10]].hex()
    assert str(over["reason"]).startswith(
        f"district {terminal} had 10 meters tripped without a second person in the last 24 h; "
        "with these 1 that is 11, more than 10 per district"
    )


def test_a_restart_does_not_reset_the_budget(deployment: Deployment, tmp_path: Path) -> None:
    api = TestClient(create_app(deployment.station, deployment.users))
    fleet = meters(api)
    assert trip(api, OTTO, fleet[:10])["state"] == "sent"
    deployment.station.close()
    storage = open_storage(f"sqlite:///{tmp_path}/station.db")
    restarted = Station(storage, InProcessBus(), deployment.clock)
    again = TestClient(create_app(restarted, deployment.users))
    assert trip(again, OTTO, fleet[10:20])["state"] == "awaiting approval"
