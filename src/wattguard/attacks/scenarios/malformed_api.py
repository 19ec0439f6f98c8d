"""Scenario 12, the station's REST API: malformed HTTP requests over a real socket.

The API runs under uvicorn on a loopback port, as ``wattguard demo`` serves it, in front of a
small deployment's station. The adversary sends raw bytes: requests whose path parameters,
query values, headers, tokens and JSON bodies are drawn from a list of hostile values (huge
and negative numbers, NaN, SQL and path fragments, non-ASCII digits, very long strings, deep
nesting) and, one time in five, byte mutations of a well-formed request. The attack succeeds
on any 5xx answer, or if the API stops answering a legitimate read afterwards.

Like the other fuzz scenarios it has no unprotected baseline (``baseline=False``, see
:mod:`.malformed`): the unprotected run sends the same requests to a deployment without
security, whose API is the same code.
"""

from __future__ import annotations

import asyncio
import json
import random
from urllib.parse import quote

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.fuzzing import Mutator
from wattguard.attacks.scenarios.malformed import Findings
from wattguard.randomness import generator

__all__: list[str] = []

_HOSTILE = [
    "", "0", "-1", "1", "00", "9" * 40, "-" + "9" * 40, "9223372036854775808", "1e309", "-1e309",
    "nan", "NaN", "inf", "-inf", "0x10", "1.5", "true", "null", "[]", "{}", "%00", "%ff",
    "../../etc/passwd", "' OR 1=1 --", "\"; DROP TABLE readings; --", "\u202e\u0661\u0662",
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff11\uff12", "\u0000",
    "000001000001", "000000000000", "00100201", "ffffffff", "x" * 5000, "%", "a b", "\n", "é",
    "000001000001\n", "00100201\n",
]  # fmt: skip
_TOKENS = [
    None, "Bearer viewer-token", "Bearer operator-token", "Bearer supervisor-token",
    "Bearer nope", "Bearer ", "Basic dmlld2VyOnRva2Vu", "bearer viewer-token",
    "Bearer " + "A" * 9000,
]  # fmt: skip
_PATHS = [
    "/api/summary", "/api/meters", "/api/meters/page", "/api/meters/{v}/readings",
    "/api/readings/latest",
    "/api/events", "/api/alerts", "/api/commands", "/api/commands/{v}", "/openapi.json",
    "/api/{v}", "/{v}",
]  # fmt: skip
_QUERY = {
    "/api/meters/{v}/readings": ("quantity", "start", "end", "limit"),
    "/api/meters/page": ("q", "after", "limit", "quantity"),
    "/api/readings/latest": ("quantity",),
    "/api/events": ("kind", "source", "since", "limit"),
    "/api/alerts": ("open",),
}
#: Values for the numeric parameters (the OpenAPI description says which are numbers).
_NUMBERS = [v for v in _HOSTILE if v[:1] in "-0123456789in"] + ["1" + "0" * 19, "-" + "1" * 20]
_NUMERIC = {"start", "end", "limit", "since"}
_GOOD = {
    "quantity": "00100201", "start": str(int(T0)), "end": str(int(T0) + 3600), "limit": "10",
    "kind": "bad_mac", "source": "FEP", "since": "0", "open": "true", "q": "0000",
    "after": "000001000001",
}  # fmt: skip
_POSTS = ["/api/commands", "/api/commands/{v}/approve", "/api/commands/{v}/reject"]
GOOD = b"GET /api/meters HTTP/1.1\r\nHost: station\r\nAuthorization: Bearer viewer-token\r\n\r\n"


def requests(seed: int, count: int) -> list[bytes]:
    """``count`` hostile requests, the same for the same seed."""
    r = generator(seed)
    mutator = Mutator(seed)
    out = []
    for _ in range(count):
        pick = r.random()
        if pick < 0.2:
            out.append(mutator.mutate(_post(r) if r.random() < 0.5 else GOOD))
        elif pick < 0.45:
            out.append(_post(r))
        else:
            out.append(_get(r))
    return out


def _value(r: random.Random, encode: bool = True) -> str:
    value = r.choice(_HOSTILE)
    return quote(value, safe="") if encode or r.random() < 0.8 else value


def _parameter(r: random.Random, name: str) -> str:
    if name in _NUMERIC and r.random() < 0.6:
        return quote(r.choice(_NUMBERS), safe="")
    return _value(r)


def _head(r: random.Random, method: str, target: str, extra: str = "") -> str:
    token = r.choice(_TOKENS[1:3]) if r.random() < 0.5 else r.choice(_TOKENS)
    auth = f"Authorization: {token}\r\n" if token is not None else ""
    return f"{method} {target} HTTP/1.1\r\nHost: station\r\n{auth}{extra}"


def _get(r: random.Random) -> bytes:
    path = r.choice(list(_QUERY)) if r.random() < 0.5 else r.choice(_PATHS)
    # a fuzzer that knows the API uses a real meter half the time, to get past the 404
    known = "000001000001" if "meters" in path and r.random() < 0.5 else None
    target = path.replace("{v}", known or _value(r, encode=r.random() < 0.9))
    names = _QUERY.get(path, ())
    if names:  # good values, and a hostile one in one place (so it is what gets judged)
        chosen = [n for n in names if r.random() < 0.6] or [names[0]]
        hostile = r.choice(chosen)
        target += "?" + "&".join(
            f"{n}={_parameter(r, n) if n == hostile else _GOOD[n]}" for n in chosen
        )
    return (_head(r, "GET", target) + "\r\n").encode("utf-8", "surrogateescape")


def _post(r: random.Random) -> bytes:
    path = r.choice(_POSTS).replace("{v}", _value(r))
    body = _body(r)
    head = _head(
        r, "POST", path, f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    return head.encode() + b"\r\n" + body


def _body(r: random.Random) -> bytes:
    kind = r.random()
    meters: object = ["000001000001"]
    if kind < 0.1:
        return b"[" * 50_000 + b"]" * 50_000  # deep nesting
    if kind < 0.2:
        return bytes(r.randrange(256) for _ in range(r.randint(1, 64)))
    if kind < 0.35:
        meters = [r.choice(_HOSTILE) for _ in range(r.randint(0, 4))]
    elif kind < 0.45:
        meters = ["000001000001"] * 10_001
    document: dict[str, object] = {"kind": r.choice(["trip", "close", "TRIP", "", 5, None, []])}
    document["meters"] = meters if r.random() < 0.9 else r.choice(_HOSTILE)
    if r.random() < 0.3:
        document["argument"] = r.choice([*_HOSTILE, 10**30, {"a": 1}, "\ud800", "a\udfffb"])
    return json.dumps(document).encode()


async def _send_all(app: object, batch: list[bytes]) -> tuple[list[int | None], int | None]:
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1", port=0, log_level="critical", lifespan="off", access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    try:
        statuses: list[int | None] = []
        for at in range(0, len(batch), 150):  # 150 connections at a time
            statuses += await asyncio.gather(*(_exchange(port, r) for r in batch[at : at + 150]))
        after = await _exchange(port, GOOD, wait=10.0)
    finally:
        server.should_exit = True
        await task
    return statuses, after


async def _exchange(port: int, raw: bytes, wait: float = 0.5) -> int | None:
    """The status the server answered ``raw`` with (None: it closed without one, or is still
    waiting for the rest of a request cut short)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), wait)
    except (ConnectionError, TimeoutError):
        return None
    finally:
        writer.close()
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


@scenario(
    12,
    "fuzz-api",
    "hostile HTTP requests to the station's REST API over a socket",
    (Protection.BOUNDARY, Protection.MONITORING),
    baseline=False,
)
def fuzz_api(protected: bool) -> Outcome:
    from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
    from wattguard.station.api import create_app

    config = DeploymentConfig(meters=2, per_terminal=2, start=T0, protected=protected)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(1800)
    events_before = deployment.storage.count_events()
    batch = requests(1204, 300)
    app = create_app(deployment.station, deployment.users)
    statuses, after = asyncio.run(_send_all(app, batch))
    found = Findings()
    by_status: dict[str, int] = {}
    for raw, status in zip(batch, statuses, strict=True):
        key = "closed" if status is None else str(status)
        by_status[key] = by_status.get(key, 0) + 1
        if status is not None and status >= 500:
            found.failures.append(f"HTTP {status} for {raw[:120]!r}")
        elif status is not None and status < 400:
            found.accepted += 1
        else:
            found.refused += 1
    if after != 200:
        found.failures.append(f"a legitimate read answered {after} after the fuzz")
    new_events = deployment.storage.events(None, None, None, 10_000)
    fresh = [e for e in new_events if e.id > events_before]
    outcome = found.outcome(
        f"answers {dict(sorted(by_status.items()))}; a legitimate read afterwards: {after}",
        [f"{len(fresh)} security events stored during the fuzz"],
    )
    outcome.events.extend(f"{e.kind.name.lower()}: {e.source}: {e.detail}" for e in fresh[:50])
    return outcome
