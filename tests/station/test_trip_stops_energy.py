"""Through the running deployment's API: after a trip is reported done, the tripped meter's
forward energy stops rising while its neighbours' keeps rising; a close (close allowed) and
the customer's button bring the supply back."""

from __future__ import annotations

from fastapi.testclient import TestClient

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START

OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
FORWARD = "00100201"


def energy_since(api: TestClient, address: str, since: float) -> list[float]:
    rows = api.get(f"/api/meters/{address}/readings?quantity={FORWARD}", headers=VIEWER).json()
    return [row["value"] for row in rows["readings"][::-1] if row["time"] >= since]


def command(api: TestClient, deployment: Deployment, kind: str, address: str) -> None:
    answer = api.post("/api/commands", json={"kind": kind, "meters": [address]}, headers=OPERATOR)
    assert answer.status_code == 201, answer.text
    deployment.run_virtual(120)
    done = api.get(f"/api/commands/{answer.json()['id']}", headers=VIEWER).json()
    assert done["state"] == "done" and done["results"] == {address: "ok"}, done


def test_a_trip_reported_done_stops_the_meters_energy_and_a_close_restarts_it() -> None:
    config = DeploymentConfig(meters=4, per_terminal=4, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(3600)
    api = TestClient(create_app(deployment.station, deployment.users))
    target, neighbour = (m["address"] for m in api.get("/api/meters", headers=VIEWER).json()[:2])
    command(api, deployment, "trip", target)
    tripped_at = deployment.clock.time()
    deployment.run_virtual(2 * 3600)
    tripped = energy_since(api, target, tripped_at)
    supplied = energy_since(api, neighbour, tripped_at)
    assert len(tripped) >= 6 and len(set(tripped)) == 1  # two hours of one and the same value
    assert supplied[-1] > supplied[0]
    command(api, deployment, "close", target)
    deployment.run_virtual(1800)
    assert energy_since(api, target, tripped_at)[-1] == tripped[-1]  # close allowed: not yet
    meter = next(net.meters[bytes.fromhex(target)] for net in deployment.nets
                 if bytes.fromhex(target) in net.meters)  # fmt: skip
    closed_at = deployment.clock.time()
    meter.press_button(closed_at)
    deployment.run_virtual(3600)
    again = energy_since(api, target, closed_at)
    assert again[-1] > tripped[-1]
