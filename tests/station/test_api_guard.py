"""The station API's request guard and its input checks (issue 13, items 3, 8, 9 and 11): no
body is read before the token, bodies are capped per endpoint before and while they are read,
JSON nesting is bounded, addresses match whole, a command that could never be stored is refused
before it exists, echoed input is cut, and a flood of refusals is one counted event."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wattguard.events import EventKind
from wattguard.runtime.api import start_api
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.commands import CommandKind, CommandRefused
from wattguard.testing import MIDNIGHT

OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
METER = "000001000001"


@pytest.fixture
def deployment() -> Deployment:
    config = DeploymentConfig(meters=2, per_terminal=2, start=MIDNIGHT)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment


@pytest.fixture
def api(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(
        create_app(deployment.station, deployment.users), raise_server_exceptions=False
    ) as client:
        yield client


class Receiver:
    """An ASGI ``receive`` that counts what the app asked of the body: ``chunks`` of ``size``
    bytes (None: a body that does not end; the client gives up after 100 chunks)."""

    def __init__(self, size: int, chunks: int | None) -> None:
        self.size, self.chunks, self.read = size, chunks, 0

    async def __call__(self) -> dict[str, Any]:
        self.read += 1
        if self.chunks is None and self.read > 100:
            return {"type": "http.disconnect"}
        more = self.chunks is None or self.read < self.chunks
        return {"type": "http.request", "body": b"[" * self.size, "more_body": more}


def call(app: FastAPI, method: str, path: str, headers: dict[str, str], receive: Any) -> int:
    """The status ``app`` answers a request with, called as a server calls it."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("192.0.2.7", 5000), "server": ("station", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent, "no answer"
    return int(sent[0]["status"])


def test_no_body_is_read_before_the_token_is_checked(deployment: Deployment) -> None:
    app = create_app(deployment.station, deployment.users)
    for headers in ({}, {"Authorization": "Bearer guess"}):
        receive = Receiver(64 * 1024, None)  # a body that never ends
        headers = {**headers, "Content-Type": "application/json"}
        assert call(app, "POST", "/api/commands", headers, receive) == 401
        assert receive.read == 0


def test_a_declared_body_over_the_cap_is_refused_before_reading(deployment: Deployment) -> None:
    from wattguard.station.api._guard import BODY_LIMITS, DEFAULT_BODY_LIMIT

    app = create_app(deployment.station, deployment.users)
    cap = next(limit.size for limit in BODY_LIMITS if limit.path.pattern == "/api/commands")
    receive = Receiver(64 * 1024, None)
    headers = {**OPERATOR, "Content-Length": str(cap + 1)}
    assert call(app, "POST", "/api/commands", headers, receive) == 413
    assert receive.read == 0
    # a route without a body takes the default cap
    headers = {**VIEWER, "Content-Length": str(DEFAULT_BODY_LIMIT + 1)}
    assert call(app, "GET", "/api/summary", headers, Receiver(1, 1)) == 413


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_cap(deployment: Deployment) -> None:
    from wattguard.station.api._guard import BODY_LIMITS

    app = create_app(deployment.station, deployment.users)
    cap = next(limit.size for limit in BODY_LIMITS if limit.path.pattern == "/api/commands")
    receive = Receiver(64 * 1024, None)  # chunked, no Content-Length, never ends
    assert call(app, "POST", "/api/commands", OPERATOR, receive) == 413
    assert receive.read == cap // (64 * 1024) + 1


def test_json_nesting_is_bounded_before_it_is_parsed(api: TestClient) -> None:
    from wattguard.station.api._guard import MAX_DEPTH, too_deep

    assert too_deep(b"[" * (MAX_DEPTH + 1)) and not too_deep(b"[" * MAX_DEPTH)
    assert not too_deep(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[[[[[[[[["}')  # inside strings
    nested: object = METER
    for _ in range(MAX_DEPTH):
        nested = [nested]
    body = json.dumps({"kind": "close", "meters": nested}).encode()
    answer = api.post("/api/commands", content=body, headers=OPERATOR)
    assert answer.status_code == 400 and "deeper" in answer.json()["detail"]
    plain = {"kind": "close", "meters": [METER]}
    assert api.post("/api/commands", json=plain, headers=OPERATOR).status_code == 201


def test_an_address_with_a_trailing_newline_is_refused(api: TestClient) -> None:
    for query in (f"meter={METER}%0A", f"meter={METER}%0a%0a", "meter=%0A"):
        answer = api.get(f"/api/events?{query}", headers=VIEWER)
        assert answer.status_code == 400, (query, answer.text)
    assert api.get(f"/api/events?meter={METER}", headers=VIEWER).status_code == 200
    answer = api.post("/api/commands", json={"kind": "close", "meters": [METER + "\n"]},
                      headers=OPERATOR)  # fmt: skip
    assert answer.status_code == 400


def test_a_lone_surrogate_argument_is_refused_and_every_command_still_answers(
    api: TestClient, deployment: Deployment
) -> None:
    body = b'{"kind": "close", "meters": ["000001000001"], "argument": "\\ud800"}'
    headers = {**OPERATOR, "Content-Type": "application/json"}
    answer = api.post("/api/commands", content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert deployment.station.commands.commands == {}  # nothing kept in memory
    listed = api.get("/api/commands", headers=VIEWER)
    assert listed.status_code == 200 and listed.json() == []
    assert api.get("/api/commands/1", headers=VIEWER).status_code == 404


def test_echoed_input_is_cut(api: TestClient) -> None:
    huge = "9" * 60_000 + "x"  # a URL this long still goes through the client
    for path in (f"/api/events?meter={huge}", f"/api/events?kind={huge}",
                 f"/api/meters/page?q={huge}", f"/api/meters/{huge}/readings"):  # fmt: skip
        answer = api.get(path, headers=VIEWER)
        assert answer.status_code == 400, path
        assert len(answer.content) < 400 and "9" * 100 not in answer.text
    for command in ({"kind": "k" * 10_000, "meters": [METER]},
                    {"kind": "close", "meters": ["9" * 200_000]}):  # fmt: skip
        answer = api.post("/api/commands", json=command, headers=OPERATOR)
        assert answer.status_code in (400, 422) and len(answer.content) < 400


def test_a_flood_of_refused_tokens_is_one_counted_event(
    api: TestClient, deployment: Deployment
) -> None:
    from wattguard.station.monitor import times_counted

    before = deployment.storage.count_events()
    for k in range(300):
        assert (
            api.get("/api/meters", headers={"Authorization": f"Bearer guess-{k}"}).status_code
            == 401
        )
    refused = deployment.storage.events(EventKind.AUTHENTICATION, "station/api")
    assert deployment.storage.count_events() == before + 1
    assert [times_counted(e.detail) for e in refused] == [300]
    assert refused[0].detail.endswith("testclient: GET /api/meters refused (401)")
    alerts = [a for a in deployment.storage.alerts() if a.rule == "authentication failures"]
    assert [a.count for a in alerts] == [300 - 5 + 1]  # brute force is still seen
    deployment.clock.advance(61)  # type: ignore[attr-defined]
    assert api.get("/api/meters").status_code == 401
    assert deployment.storage.count_events() == before + 2


def test_an_unauthenticated_body_is_refused_over_a_socket_without_being_read(
    deployment: Deployment,
) -> None:
    async def attempt() -> tuple[bytes, float]:
        running = await start_api(deployment.station, 0)
        sock = socket.create_connection(("127.0.0.1", running.port))
        try:
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            head = (
                "POST /api/commands HTTP/1.1\r\nHost: station\r\n"
                "Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n"
            )
            began = time.monotonic()
            await loop.sock_sendall(sock, head.encode() + b"[" * 65536)  # 64 KiB of 200 MiB
            answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5.0)
            return answer, time.monotonic() - began
        finally:
            sock.close()
            await running.stop()

    answer, seconds = asyncio.run(attempt())
    assert answer.startswith(b"HTTP/1.1 401 "), answer
    assert seconds < 5.0


def test_the_station_itself_refuses_an_argument_it_could_not_store(
    deployment: Deployment,
) -> None:
    operator = deployment.users["operator-token"]
    with pytest.raises(CommandRefused, match="printable"):
        deployment.station.issue(operator, CommandKind.CLOSE, (METER,), "a\ud800")
    assert deployment.station.commands.commands == {} and deployment.storage.commands() == []
