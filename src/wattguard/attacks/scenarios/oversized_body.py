"""Scenario 11, the station's REST API: oversized bodies without a token.

The API runs under uvicorn on a loopback port, on the event loop that also runs the station's
collector (as in ``wattguard demo``). The adversary has no token; it sends ``POST
/api/commands`` requests whose bodies are :data:`BODY` bytes of well-formed JSON (a command
naming millions of meters), one after another. Meanwhile a probe on the same loop measures how
late a 5 ms timer fires (the time the collector, the FEP and the terminals on that loop could
not run) and a thread samples the process's resident memory.

The attack succeeds if the station is slowed or swollen: the loop stalls longer than
:data:`STALL_BOUND` seconds, or memory grows by more than :data:`MEMORY_BOUND` bytes. The
protected API (the request guard, :mod:`wattguard.station.api._guard`) answers 401 from the
headers and never reads the body; the unprotected one (``create_app(..., guard=False)``, the
API before the guard) reads and parses the whole body before it checks the token. Sizes are
kept small enough for CI; ``bench/api_flood.py`` measures larger ones.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0

__all__: list[str] = []

#: The size of each body (bytes), and how many are sent.
BODY = 24 * 1024 * 1024
REQUESTS = 3
#: The attack succeeds past these: a loop stall (seconds) or a growth in memory (bytes).
STALL_BOUND = 0.5
MEMORY_BOUND = 48 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def body(size: int) -> bytes:
    """A well-formed command of about ``size`` bytes (one meter address repeated)."""
    item = b'"000001000001",'
    count = max(1, (size - 40) // len(item))
    return b'{"kind": "trip", "meters": [' + item * count + b'"000001000001"]}'


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


@dataclass
class Probe:
    """How late a 5 ms timer on the loop fires (the worst, in seconds), and the process's
    resident memory at its peak, sampled by a thread every 5 ms."""

    stall: float = 0.0
    peak: int = 0
    base: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    async def timer(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            self.stall = max(self.stall, time.perf_counter() - began - 0.005)

    def sample(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)


@dataclass
class Answer:
    """What one request got: its status (None: no answer), how long that took (seconds) and
    how many body bytes the client had sent by then."""

    status: int | None
    seconds: float
    sent: int


async def send(port: int, payload: bytes, token: str | None = None) -> Answer:
    """POST ``payload`` to ``/api/commands`` as a client that stops sending once it has an
    answer; the status (None: no answer) and how long it took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /api/commands HTTP/1.1\r\nHost: station\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    began = time.perf_counter()
    line = asyncio.create_task(reader.readline())
    sent = 0
    try:
        writer.write(head.encode())
        for at in range(0, len(payload), 1 << 20):
            if line.done():
                break
            writer.write(payload[at : at + (1 << 20)])
            sent += min(1 << 20, len(payload) - at)
            await writer.drain()
        answer = await asyncio.wait_for(line, 60.0)
    except (ConnectionError, TimeoutError):
        answer = b""
    finally:
        line.cancel()
        writer.close()
    parts = answer.split()
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    return Answer(status, time.perf_counter() - began, sent)


async def flood(app: object, payload: bytes, count: int) -> tuple[list[Answer], Probe]:
    """Serve ``app`` under uvicorn, send it ``count`` unauthenticated ``payload`` s while the
    probe runs; the answers and the probe."""
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
    probe = Probe(base=_rss())
    sampler = threading.Thread(target=probe.sample, daemon=True)
    sampler.start()
    timer = asyncio.create_task(probe.timer())
    try:
        answers = [await send(port, payload) for _ in range(count)]
        await asyncio.sleep(0.05)
    finally:
        probe.stop.set()
        await timer
        sampler.join()
        server.should_exit = True
        await task
    return answers, probe


@scenario(
    11,
    "api-oversized-body",
    "huge request bodies without a token, to stall or swell the station through its API",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def oversized_body(protected: bool) -> Outcome:
    from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
    from wattguard.station.api import create_app

    config = DeploymentConfig(meters=2, per_terminal=2, start=T0, protected=protected)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    app = create_app(deployment.station, deployment.users, guard=protected)
    payload = body(BODY)
    answers, probe = asyncio.run(flood(app, payload, REQUESTS))
    grown = max(0, probe.peak - probe.base)
    slow = max(a.seconds for a in answers)
    succeeded = probe.stall > STALL_BOUND or grown > MEMORY_BOUND
    statuses = sorted({str(a.status) for a in answers})
    outcome = Outcome(
        succeeded,
        f"{REQUESTS} x {len(payload) >> 20} MiB without a token: answered "
        f"{', '.join(statuses)} within {slow:.2f} s; the loop stalled up to "
        f"{probe.stall * 1000:.0f} ms (bound {STALL_BOUND * 1000:.0f}), memory grew "
        f"{grown >> 20} MiB (bound {MEMORY_BOUND >> 20})",
        [f"client sent {a.sent >> 10} KiB before the answer {a.status}" for a in answers],
    )
    refused = deployment.storage.events(None, "station/api", None, 100)  # a fresh station's
    outcome.events.extend(f"{e.kind.name.lower()}: {e.source}: {e.detail}" for e in refused)
    return outcome
