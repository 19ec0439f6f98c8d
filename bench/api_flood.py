"""Oversized unauthenticated bodies against the station's REST API, with and without the
request guard (issue 13, item 3).

For each body size, ``count`` ``POST /api/commands`` requests without a token are sent one
after another to the API served by uvicorn on loopback, on the loop that also runs the station
(as in ``wattguard demo``). Printed per size and configuration: the statuses, the slowest
answer, how late a 5 ms timer on that loop fired at worst (the time the collector, the FEP and
the terminals sharing the loop could not run; quiet, it is a few ms) and how much the process's
resident memory grew at its peak.

With ``--live``, the same flood goes to the API of a live deployment (``wattguard demo``'s
wiring: terminals over loopback TCP to the in-process FEP, the station and the API on one
loop), and what is printed is the station's round trip to a terminal through the FEP (a GET of
the terminal's clock), quiet and during the flood (median and worst; the flood lasts at least 3 s).

    PYTHONPATH=src python bench/api_flood.py [--sizes 16,50,100] [--count 3] [--live]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time

from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.oversized_body import body, flood, send
from wattguard.protocol import OAD
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.runtime import api, deployment
from wattguard.runtime.deployment import Deployment, DeploymentConfig, live_clock, virtual_clock
from wattguard.station.api import create_app


def once(size_mib: int, count: int, guard: bool) -> str:
    config = DeploymentConfig(meters=2, per_terminal=2, start=T0)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    app = create_app(deployment.station, deployment.users, guard=guard)
    payload = body(size_mib << 20)
    answers, probe = asyncio.run(flood(app, payload, count))
    statuses = ",".join(sorted({str(a.status) for a in answers}))
    return (
        f"{size_mib:>5} MiB x{count} {'guarded' if guard else 'unguarded':>9}: "
        f"answers {statuses:>4}, slowest {max(a.seconds for a in answers) * 1000:8.1f} ms, "
        f"loop stalled up to {probe.stall * 1000:7.1f} ms, "
        f"memory +{max(0, probe.peak - probe.base) / (1 << 20):7.1f} MiB"
    )


async def round_trip(live: Deployment, terminal: bytes) -> float:
    """Seconds from the station's request to a terminal (through the FEP) to its answer."""
    answered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    began = time.perf_counter()
    live.station.collector.request(
        terminal,
        lambda piid: GetRequestNormal(piid, OAD(0x4000, 2, 0)),
        lambda answer: answered.done() or answered.set_result(answer),
    )
    await asyncio.wait_for(answered, 30.0)
    return time.perf_counter() - began


async def trips(live: Deployment, terminal: bytes, until: asyncio.Future[None]) -> list[float]:
    out = []
    while not until.done():
        out.append(await round_trip(live, terminal))
        await asyncio.sleep(0.02)
    return out


async def live_once(size_mib: int, count: int, guard: bool) -> str:
    config = DeploymentConfig(meters=4, per_terminal=2, speed=1.0)
    live = Deployment(config, live_clock(config))
    ports: list[int] = []
    deployment.start_api = functools.partial(api.start_api, guard=guard)  # type: ignore[assignment]
    running = asyncio.create_task(
        live.run_live(None, lambda _: None, api_port=0, on_api=ports.append)
    )
    try:
        while (
            not ports
            or not all(link.logged_in for link in live.collector.links.values())
            or (len(live.collector.links) < len(live.nets))
        ):
            await asyncio.sleep(0.1)
        terminal = live.nets[0].terminal.address
        quiet_done = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(2.0, quiet_done.set_result, None)
        quiet = await trips(live, terminal, quiet_done)
        flood_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        probing = asyncio.create_task(trips(live, terminal, flood_done))
        payload = body(size_mib << 20)
        answers, began = [], time.perf_counter()
        while len(answers) < count or time.perf_counter() - began < 3.0:  # at least 3 s
            answers.append(await send(ports[0], payload))
        flood_done.set_result(None)
        loaded = await probing
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        deployment.start_api = api.start_api
    statuses = ",".join(sorted({str(a.status) for a in answers}))

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:6.1f} / {max(values) * 1000:7.1f} ms"

    return (
        f"{size_mib:>5} MiB x{len(answers)} {'guarded' if guard else 'unguarded':>9}: answers "
        f"{statuses:>4}; FEP round trip median/worst quiet {ms(quiet)} ({len(quiet)}), "
        f"during the flood {ms(loaded)} ({len(loaded)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,50", help="body sizes in MiB (16,50)")
    parser.add_argument("--count", type=int, default=3, help="requests per size (3)")
    parser.add_argument("--live", action="store_true", help="measure the FEP round trip")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        for guard in (True, False):
            if args.live:
                print(asyncio.run(live_once(size, args.count, guard)), flush=True)
            else:
                print(once(size, args.count, guard), flush=True)


if __name__ == "__main__":
    main()
