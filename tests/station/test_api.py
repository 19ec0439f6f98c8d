"""The station's REST API over a running (virtual) deployment: reads, and remote commands
that reach the relay through terminal, ESAM and back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from wattguard.meter.relay import RelayState
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app

START = 1_790_000_000.0 - 1_790_000_000.0 % 86400
OPERATOR = {"Authorization": "Bearer operator-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=14, per_terminal=7, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(3600)
    return deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> TestClient:
    return TestClient(create_app(deployment.station, deployment.users))


def relay(deployment: Deployment, address: str) -> RelayState:
    for net in deployment.nets:
        meter = net.meters.get(bytes.fromhex(address))
        if meter is not None:
            return meter.management.relay.state
    raise KeyError(address)


def test_reads_need_a_token_and_give_stored_data(api: TestClient) -> None:
    assert api.get("/api/meters").status_code == 401
    assert api.get("/api/meters", headers={"Authorization": "Bearer nope"}).status_code == 401
    meters = api.get("/api/meters", headers=VIEWER).json()
    assert len(meters) == 14
    first = meters[0]["address"]
    rows = api.get(f"/api/meters/{first}/readings?quantity=00100201", headers=VIEWER).json()
    assert [r["time"] for r in rows] == [START + 900 * k for k in range(len(rows))] and rows
    assert api.get("/api/meters/12/readings", headers=VIEWER).status_code == 400
    assert api.get("/api/meters/999999999999/readings", headers=VIEWER).status_code == 404
    curve = api.get(f"/api/meters/{first}/freezes?object=50020200", headers=VIEWER).json()
    assert [r["time"] for r in curve] == [START + 900 * k for k in range(1, 3)]
    assert api.get(f"/api/meters/{first}/freezes?object=9999", headers=VIEWER).status_code == 422
    latest = api.get("/api/readings/latest", headers=VIEWER).json()
    assert len(latest) == 14
    summary = api.get("/api/summary", headers=VIEWER).json()
    assert summary["readings_stored"] > 0 and summary["verified"] > 0
    assert api.get("/api/events?kind=nonsense", headers=VIEWER).status_code == 400
    assert api.get("/api/events?meter=12", headers=VIEWER).status_code == 400
    assert api.get(f"/api/events?meter={first}&until=0", headers=VIEWER).json() == []
    curve = f"/api/meters/{first}/readings?quantity=50020200/00100201"
    assert api.get(curve, headers=VIEWER).status_code == 200
    assert api.get("/openapi.json").json()["info"]["title"] == "wattguard master station"


def test_a_remote_trip_reaches_the_relay_and_its_result_comes_back(
    api: TestClient, deployment: Deployment
) -> None:
    target = api.get("/api/meters", headers=VIEWER).json()[2]["address"]
    answer = api.post("/api/commands", json={"kind": "trip", "meters": [target]}, headers=OPERATOR)
    assert answer.status_code == 201, answer.text
    command = answer.json()
    assert command["state"] == "sent"
    deployment.run_virtual(120)
    done = api.get(f"/api/commands/{command['id']}", headers=VIEWER).json()
    assert done["state"] == "done" and done["results"] == {target: "ok"}
    deployment.run_virtual(60)
    assert relay(deployment, target) != RelayState.CLOSED
    # the device audited the protection, the station its command trail
    assert deployment.station.audit.verify() is None
    assert deployment.hsm is not None and deployment.hsm.audit.verify() is None


def test_roles_and_the_second_person_rule(api: TestClient, deployment: Deployment) -> None:
    meters = [m["address"] for m in api.get("/api/meters", headers=VIEWER).json()]
    refused = api.post("/api/commands", json={"kind": "trip", "meters": meters[:1]}, headers=VIEWER)
    assert refused.status_code == 403 and "operator role" in refused.json()["detail"]
    mass = api.post(
        "/api/commands", json={"kind": "trip", "meters": meters[3:14]}, headers=SUPERVISOR
    )
    assert mass.status_code == 201 and mass.json()["state"] == "awaiting approval"
    command_id = mass.json()["id"]
    own = api.post(f"/api/commands/{command_id}/approve", headers=SUPERVISOR)
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    approved = api.post(f"/api/commands/{command_id}/approve", headers=SECOND)
    assert approved.status_code == 200 and approved.json()["state"] == "sent"
    deployment.run_virtual(300)
    done = api.get(f"/api/commands/{command_id}", headers=VIEWER).json()
    assert done["state"] == "done", done["results"]
    events = api.get("/api/events?kind=unauthorised", headers=VIEWER).json()
    assert len(events) >= 2  # the viewer's attempt and the self-approval
    assert api.post("/api/commands/999/approve", headers=SECOND).status_code == 404
    unknown = api.post(
        "/api/commands", json={"kind": "trip", "meters": ["000000000000"]}, headers=OPERATOR
    )
    assert unknown.status_code == 403 and "unknown meter" in unknown.json()["detail"]
    bad = api.post(
        "/api/commands", json={"kind": "explode", "meters": meters[:1]}, headers=OPERATOR
    )
    assert bad.status_code == 400


def test_the_audit_trail_is_checked_on_request(deployment: Deployment, api: TestClient) -> None:
    # the deployment's users were made through the directory: audit entries, witnessed
    deployment.run_virtual(60)
    answer = api.get("/api/audit", headers=VIEWER)
    assert answer.status_code == 200
    body = answer.json()
    entries = deployment.station.storage.audit()
    assert body == {"entries": len(entries), "broken_at": None, "witnessed": entries[-1].seq}
    assert api.get("/api/audit").status_code == 401
