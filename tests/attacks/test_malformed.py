"""The fuzz scenarios' machinery, and the API refusals they led to: huge integers and bytes
that are not UTF-8 were answered 500; refusals of tokens and input were not monitored."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.fuzzing import Mutator
from wattguard.attacks.scenarios.malformed import Findings
from wattguard.attacks.scenarios.malformed_api import _send_all, requests
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app

VIEWER = {"Authorization": "Bearer viewer-token"}
OPERATOR = {"Authorization": "Bearer operator-token"}


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=2, per_terminal=2, start=T0)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> TestClient:
    return TestClient(create_app(deployment.station, deployment.users))


@pytest.mark.parametrize("value", ["9" * 30, "-" + "9" * 30, str(2**63)])
def test_times_beyond_64_bits_are_refused_not_crashed(api: TestClient, value: str) -> None:
    for name in ("start", "end"):
        answer = api.get(f"/api/meters/000001000001/readings?{name}={value}", headers=VIEWER)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["query", name]
    assert api.get(
        f"/api/meters/000001000001/readings?start={2**63 - 1}", headers=VIEWER
    ).json() == {"readings": [], "next": None}


def test_a_body_that_is_not_utf8_is_refused_and_not_echoed(api: TestClient) -> None:
    body = b'{"kind\x82\xff\xff: "trip", "meters": ["000001000001"]}'
    for headers in (OPERATOR, {**OPERATOR, "Content-Type": "application/json"}):
        answer = api.post("/api/commands", content=body, headers=headers)
        assert answer.status_code in (400, 422), answer.text
        assert "trip" not in answer.text  # the input is not reflected


def test_refused_tokens_and_input_are_security_events(
    api: TestClient, deployment: Deployment
) -> None:
    assert api.get("/api/meters", headers={"Authorization": "Bearer guess-1"}).status_code == 401
    assert api.get("/api/meters").status_code == 401
    assert api.get("/api/events?limit=0", headers=VIEWER).status_code == 422
    assert api.get("/api/meters/12/readings", headers=VIEWER).status_code == 400
    assert api.get("/api/meters", headers=VIEWER).status_code == 200  # not an event
    stored = [e for e in deployment.storage.events(None, "station/api", None, 10_000)]
    # one event per client, status and minute (the clock stands still here), counting them
    by_status = {
        status: [e for e in stored if e.detail.endswith(f"refused ({status})")]
        for status in (400, 401, 422)
    }
    assert {s: len(found) for s, found in by_status.items()} == {400: 1, 401: 1, 422: 1}
    assert by_status[401][0].kind.name == "AUTHENTICATION"
    assert by_status[400][0].kind.name == by_status[422][0].kind.name == "MALFORMED"
    assert by_status[401][0].detail.endswith("testclient: GET /api/meters refused (401)")
    assert all("guess-1" not in e.detail for e in stored)  # never the token


def test_the_api_fuzz_sees_a_server_error() -> None:
    app = FastAPI()

    @app.get("/api/meters")
    async def broken() -> None:
        raise RuntimeError("a bug")

    statuses, after = asyncio.run(_send_all(app, [b"GET /api/meters HTTP/1.1\r\nHost: x\r\n\r\n"]))
    assert statuses == [500] and after == 500


def test_the_fuzz_is_reproducible_and_records_what_raises() -> None:
    assert requests(7, 50) == requests(7, 50)
    a, b = Mutator(3, [b"corpus"]), Mutator(3, [b"corpus"])
    assert [a.mutate(b"\x05\x01\x00\x10") for _ in range(20)] == [
        b.mutate(b"\x05\x01\x00\x10") for _ in range(20)
    ]
    found = Findings()
    found.call("parse", b"\x01", lambda: int("x"))
    assert found.outcome("", []).succeeded
    assert found.failures and "ValueError" in found.failures[0]
