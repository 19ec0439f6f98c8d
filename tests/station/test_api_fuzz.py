"""Fuzz of the station's REST API (issue 13, item 8): every operation its OpenAPI description
names, called with arbitrary path parameters, query values, tokens and bodies, answers a 4xx
(or success), never a 500; and a command that was accepted always answers when read back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT

METER = "000001000001"
#: Values a fuzzer that has read the issue tries first, then anything.
HOSTILE = [
    METER, METER + "\n", METER + "\r\n", "\n" + METER, METER.replace("1", "\u0661"), "1",
    "\ud800", "\udfff", "a\ud800b", "\x00", "\n", "", "-1", "9" * 30, "1e309", "nan",
    "x" * 3000, "../../etc/passwd", "' OR 1=1 --", "trip", "close", "authentication",
    "00100201", "00100201\n", "50020200", "true",
]  # fmt: skip
VALUES = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
TOKENS = st.sampled_from(["operator-token", "supervisor-token", "viewer-token"]) | st.sampled_from(
    [None, "nope", "\ud800", ""]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(VALUES, inner, max_size=3),
    max_leaves=8,
)
COMMANDS = st.fixed_dictionaries(
    {"kind": st.sampled_from(["trip", "close", "TRIP", "open"]) | VALUES,
     "meters": st.lists(st.sampled_from([METER, "000001000002"]) | VALUES, max_size=3)},
    optional={"argument": VALUES | JSON},
)  # fmt: skip
BODIES = st.one_of(
    st.none(),
    COMMANDS.map(lambda c: json.dumps(c).encode()),
    JSON.map(lambda c: json.dumps(c).encode()),
    st.binary(max_size=64),
)


def encode(value: str) -> str:
    """``value`` percent-encoded as a client would put it in a URL (lone surrogates as the
    bytes Python would give them)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=2, per_terminal=2, start=MIDNIGHT)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment.station, deployment.users)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.app_state["app"] = app
        yield client


def operations(api: TestClient) -> list[tuple[str, str, list[str]]]:
    """Every operation the app's OpenAPI description names: method, path template and the
    names of its query parameters."""
    paths = api.app_state["app"].openapi()["paths"]
    found = [
        (method.upper(), path, [p["name"] for p in op.get("parameters", []) if p["in"] == "query"])
        for path, ops in paths.items()
        for method, op in ops.items()
    ]
    assert len(found) >= 15  # every resource's routes
    return found


def check(api: TestClient, method: str, path: str, token: str | None, body: bytes | None) -> int:
    """Send one request; assert it is not a server error, and that the command list (and a
    command it made) still answer. Its status."""
    headers = {} if token is None else {"Authorization": f"Bearer {encode(token)}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    answer = api.request(method, path, content=body, headers=headers)
    assert answer.status_code < 500, (method, path, body, answer.text)
    viewer = {"Authorization": "Bearer viewer-token"}
    if answer.status_code == 201:  # an accepted command answers when read back
        assert api.get(f"/api/commands/{answer.json()['id']}", headers=viewer).status_code == 200
    assert api.get("/api/commands", headers=viewer).status_code == 200
    return answer.status_code


@settings(
    max_examples=400, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_no_request_gets_a_server_error(api: TestClient, data: st.DataObject) -> None:
    method, template, names = data.draw(st.sampled_from(operations(api)))
    path = re.sub(r"\{[^}]+\}", lambda _: encode(data.draw(VALUES)), template)
    query = [(n, data.draw(VALUES)) for n in names if data.draw(st.booleans())]
    if query:
        path += "?" + "&".join(f"{name}={encode(value)}" for name, value in query)
    body = data.draw(BODIES) if method == "POST" else None
    check(api, method, path, data.draw(TOKENS), body)


def test_the_cases_the_attack_found(api: TestClient) -> None:
    # a trailing newline after an address; a lone surrogate kept in a command
    assert check(api, "GET", "/api/events?meter=000001000003%0A", "viewer-token", None) == 400
    body = b'{"kind": "close", "meters": ["000001000001"], "argument": "\\ud800"}'
    assert check(api, "POST", "/api/commands", "operator-token", body) == 422
