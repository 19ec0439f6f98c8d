"""A firmware campaign over a simulated neighbourhood, timed in simulated and CPU time.

    python bench/campaign.py [--meters N] [--image-kib K] [--target-minutes M]

Builds a protected deployment of ``--meters`` meters behind one terminal (HPLC channel model,
virtual time), uploads a ``--image-kib`` KiB vendor-signed image through the API, and runs
one campaign over every meter in one wave (512-byte blocks, ciphertext + SID_MAC through the
cryptographic device, PROXY through the terminal, 4 requests at a time behind it). Prints the
simulated minutes until every meter reports the new version, the blocks sent, and the CPU
seconds the whole run took; exits 1 if a meter did not finish ``done`` or the campaign took
more than ``--target-minutes`` simulated minutes.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time

from fastapi.testclient import TestClient

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=25)
    parser.add_argument("--image-kib", type=int, default=32)
    parser.add_argument("--target-minutes", type=float, default=60.0)
    args = parser.parse_args()
    config = DeploymentConfig(meters=args.meters, per_terminal=args.meters, start=MIDNIGHT, seed=5)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(300)
    api = TestClient(create_app(deployment.station, deployment.users))
    image = deployment.vendor.build(bytes(range(256)) * (4 * args.image_kib), "1.1.0")
    body = {"image": base64.b64encode(image).decode()}
    digest = api.post("/api/firmware", json=body, headers=SUPERVISOR).json()["digest"]
    meters = [m["address"] for m in api.get("/api/meters?limit=10000", headers=SUPERVISOR).json()]
    made = api.post(
        "/api/campaigns",
        json={"kind": "firmware upgrade", "image": digest, "meters": meters, "canary_share": 1},
        headers=SUPERVISOR,
    ).json()
    number = made["id"]
    api.post(f"/api/campaigns/{number}/approve", headers=SECOND)
    began, cpu = deployment.clock.time(), time.process_time()
    api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR)
    status = made
    while deployment.clock.time() - began < args.target_minutes * 60 * 4:
        deployment.run_virtual(60)
        status = api.get(f"/api/campaigns/{number}", headers=SUPERVISOR).json()
        if status["state"] != "running":
            break
    minutes = (deployment.clock.time() - began) / 60
    blocks = -(-len(image) // 512)
    print(
        f"{len(meters)} meters, {len(image):,}-byte image ({blocks} blocks each): "
        f"{status['state']} {status['counts']} in {minutes:.0f} simulated minutes, "
        f"{time.process_time() - cpu:.1f} s CPU"
    )
    missed = status["counts"] != {"done": len(meters)} or minutes > args.target_minutes
    if missed:
        print(f"target missed: every meter done within {args.target_minutes:g} minutes")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
