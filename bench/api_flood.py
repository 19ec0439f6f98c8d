"""Oversized unauthenticated bodies against the station's REST API, with and without the
request guard (issue 13, item 3).

For each body size, ``count`` ``POST /api/commands`` requests without a token are sent one
after another to the API served by uvicorn on loopback, on the loop that also runs the station
(as in ``wattguard demo``). Printed per size and configuration: the statuses, the slowest
answer, how late a 5 ms timer on that loop fired at worst (the time the collector, the FEP and
the terminals sharing the loop could not run; quiet, it is a few ms) and how much the process's
resident memory grew at its peak.

    PYTHONPATH=src python bench/api_flood.py [--sizes 16,50,100] [--count 3]
"""

from __future__ import annotations

import argparse
import asyncio

from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.oversized_body import body, flood
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,50", help="body sizes in MiB (16,50)")
    parser.add_argument("--count", type=int, default=3, help="requests per size (3)")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        for guard in (True, False):
            print(once(size, args.count, guard), flush=True)


if __name__ == "__main__":
    main()
