"""The campaign API's refusals: roles, the second person, unknown campaigns and meters, bad
images and bodies, campaign kinds kept off ``/api/commands``, a stop before the start, and
a rejected campaign that can no longer start."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from wattguard.events import EventKind
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
METER = "000001000001"


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=3, per_terminal=3, start=START, seed=3)
    made = Deployment(config, virtual_clock(config))
    made.run_virtual(300)
    return made


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment.station, deployment.users)) as client:
        yield client


@pytest.fixture(scope="module")
def digest(deployment: Deployment, api: TestClient) -> str:
    image = deployment.vendor.build(b"campaign api firmware\n" * 30, "1.2.0")
    body = {"image": base64.b64encode(image).decode()}
    answer = api.post("/api/firmware", json=body, headers=SUPERVISOR)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["digest"])


def create(api: TestClient, headers: dict[str, str], **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    answer = api.post("/api/campaigns", json=body, headers=headers)
    return answer.status_code, answer.json()


def test_only_supervisors_create_and_only_a_second_one_approves(
    api: TestClient, digest: str
) -> None:
    firmware = {"kind": "firmware upgrade", "image": digest, "meters": [METER]}
    assert create(api, OPERATOR, **firmware)[0] == 403
    assert create(api, VIEWER, **firmware)[0] == 403
    status, made = create(api, SUPERVISOR, **firmware)
    assert status == 201 and made["command"] == "awaiting approval"
    number = made["id"]
    assert api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR).status_code == 403
    assert api.post(f"/api/campaigns/{number}/approve", headers=OPERATOR).status_code == 403
    assert api.post(f"/api/campaigns/{number}/approve", headers=SUPERVISOR).status_code == 403
    rejected = api.post(f"/api/campaigns/{number}/reject", headers=SECOND)
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    started = api.post(f"/api/campaigns/{number}/start", headers=SECOND)
    assert started.status_code == 403 and "rejected" in started.json()["detail"]


def test_a_campaign_stopped_before_its_start_never_sends(
    api: TestClient, deployment: Deployment, digest: str
) -> None:
    status, made = create(api, SUPERVISOR, kind="firmware upgrade", image=digest, meters=[METER])
    number = made["id"]
    assert status == 201
    assert api.post(f"/api/campaigns/{number}/approve", headers=SECOND).status_code == 200
    stopped = api.post(f"/api/campaigns/{number}/stop", headers=OPERATOR)
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert "stopped by otto" in stopped.json()["reason"]
    assert stopped.json()["command"] == "failed"  # the meter's outcome: never sent
    deployment.run_virtual(300)
    after = api.get(f"/api/campaigns/{number}", headers=VIEWER).json()
    assert after["counts"] == {"pending": 1}
    assert api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR).status_code == 403


def test_requests_that_name_nothing_known_are_refused_clearly(
    api: TestClient, digest: str, deployment: Deployment
) -> None:
    assert api.get("/api/campaigns/99999", headers=VIEWER).status_code == 404
    assert api.post("/api/campaigns/99999/start", headers=SUPERVISOR).status_code == 404
    assert create(api, SUPERVISOR, kind="firmware upgrade", image="ab" * 32, meters=[METER])[0] == (
        404
    )  # fmt: skip
    status, body = create(api, SUPERVISOR, kind="firmware upgrade", image=digest,
                          meters=["999999999999"])  # fmt: skip
    assert status == 404 and "999999999999" in body["detail"]
    status, body = create(api, SUPERVISOR, kind="key update", districts=["990000000077"])
    assert status == 403 and "district 990000000077" in body["detail"]
    assert create(api, SUPERVISOR, kind="trip", meters=[METER])[0] == 400
    assert create(api, SUPERVISOR, kind="firmware upgrade", image=digest, meters=["12ab"])[0] == 400
    status, body = create(api, SUPERVISOR, kind="certificate update", meters=[METER],
                          certificate="00ff")  # fmt: skip
    assert status == 400 and "certificate" in body["detail"]
    bad_plan = {"kind": "firmware upgrade", "image": digest, "meters": [METER]}
    assert create(api, SUPERVISOR, **bad_plan, wave_sizes=[0])[0] == 400
    assert create(api, SUPERVISOR, **bad_plan, canary_share=0)[0] == 422
    command = api.post(
        "/api/commands", json={"kind": "firmware upgrade", "meters": [METER]}, headers=SUPERVISOR
    )
    assert command.status_code == 403 and "/api/campaigns" in command.json()["detail"]
    trip = api.post("/api/commands", json={"kind": "close", "meters": [METER]}, headers=OPERATOR)
    assert trip.status_code == 201
    not_one = api.get(f"/api/campaigns/{trip.json()['id']}", headers=VIEWER)
    assert not_one.status_code == 403 and "not a campaign" in not_one.json()["detail"]


def test_an_image_that_is_not_an_image_is_refused_and_recorded(
    api: TestClient, deployment: Deployment
) -> None:
    assert api.post("/api/firmware", json={"image": "%%%"}, headers=SUPERVISOR).status_code == 400
    junk = {"image": base64.b64encode(b"WGFW" + b"\x00" * 40).decode()}
    answer = api.post("/api/firmware", json=junk, headers=SUPERVISOR)
    assert answer.status_code == 422 and "bad_format" in answer.json()["detail"]
    unsigned = deployment.vendor.build(b"unsigned\n" * 10, "5.0.0", sign=False)
    body = {"image": base64.b64encode(unsigned).decode()}
    answer = api.post("/api/firmware", json=body, headers=SUPERVISOR)
    assert answer.status_code == 422 and "unsigned" in answer.json()["detail"]
    events = deployment.storage.events(kind=EventKind.FIRMWARE, source="station/firmware")
    assert len(events) >= 2 and all(e.detail.startswith("sun: ") for e in events)
    assert all(i["version"] != "5.0.0" for i in api.get("/api/firmware", headers=VIEWER).json())


def test_a_campaign_stopped_while_awaiting_approval_stays_stopped(
    api: TestClient, digest: str
) -> None:
    status, made = create(api, SUPERVISOR, kind="firmware upgrade", image=digest, meters=[METER])
    assert status == 201
    number = made["id"]
    stopped = api.post(f"/api/campaigns/{number}/stop", headers=SUPERVISOR)
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    late = api.post(f"/api/commands/{number}/approve", headers=SECOND)  # through the commands
    assert late.status_code == 200
    after = api.get(f"/api/campaigns/{number}", headers=VIEWER).json()
    assert after["state"] == "stopped" and after["counts"] == {"pending": 1}
    started = api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR)
    assert started.status_code == 403 and "stopped: it cannot start" in started.json()["detail"]
