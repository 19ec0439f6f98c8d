"""Firmware campaigns through the running deployment's API: a vendor-signed image uploaded
once (a tampered one refused), a supervisor's campaign approved by a second, the canary wave
first, per-meter progress, the version read back over 698, an automatic stop when the canary
rolls back, and a station restart in the middle of a transfer."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from wattguard.events import EventKind
from wattguard.meter.management.firmware import FirmwareBuilder, Version
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


def fleet(meters: int = 6, database: str = "sqlite://") -> tuple[Deployment, TestClient]:
    config = DeploymentConfig(meters=meters, per_terminal=3, start=START, seed=7,
                              database=database)  # fmt: skip
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(600)
    return deployment, TestClient(create_app(deployment.station, deployment.users))


def upload(api: TestClient, image: bytes) -> dict[str, object]:
    answer = api.post(
        "/api/firmware", json={"image": base64.b64encode(image).decode()}, headers=SUPERVISOR
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def new_image(deployment: Deployment, version: str = "1.1.0") -> bytes:
    return deployment.vendor.build(b"wattguard management firmware %b\n" % version.encode() * 40,
                                   version)  # fmt: skip


def running(deployment: Deployment) -> dict[str, Version]:
    return {
        address.hex(): meter.upgrader.active_version
        for net in deployment.nets
        for address, meter in net.meters.items()
        if meter.upgrader is not None
    }


def campaign(api: TestClient, body: dict[str, object]) -> int:
    made = api.post("/api/campaigns", json=body, headers=SUPERVISOR)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "awaiting approval"
    number = int(made.json()["id"])
    own = api.post(f"/api/campaigns/{number}/approve", headers=SUPERVISOR)
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    approved = api.post(f"/api/campaigns/{number}/approve", headers=SECOND)
    assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text
    return number


def status(api: TestClient, number: int) -> dict[str, object]:
    answer = api.get(f"/api/campaigns/{number}", headers=VIEWER)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_campaign_reaches_every_meter_wave_by_wave_and_reads_the_version_back() -> None:
    deployment, api = fleet()
    image = new_image(deployment)
    stored = upload(api, image)
    assert stored["version"] == "1.1.0" and stored["stored"] == "new"
    assert upload(api, image)["stored"] == "already stored"  # kept once
    assert len(api.get("/api/firmware", headers=VIEWER).json()) == 1
    meters = sorted(running(deployment))
    number = campaign(
        api,
        {
            "kind": "firmware upgrade",
            "image": stored["digest"],
            "meters": meters,
            "canary_share": 0.2,
            "wave_sizes": [2, 10],
        },
    )
    assert api.post(f"/api/campaigns/{number}/start", headers=OPERATOR).status_code == 403
    started = api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR).json()
    assert started["state"] == "running" and started["waves"] == 3  # canary 2, then 2, then 2
    deployment.run_virtual(1800)
    canary = status(api, number)
    assert canary["state"] == "wave done", canary
    by_meter = {m["meter"]: m for m in canary["meters"]}  # type: ignore[attr-defined]
    assert [by_meter[m]["step"] for m in meters[:2]] == ["done", "done"]
    assert [by_meter[m]["step"] for m in meters[2:]] == ["pending"] * 4
    assert all(by_meter[m]["reported"] == "1.1.0" for m in meters[:2])
    versions = running(deployment)
    assert {versions[m] for m in meters[:2]} == {Version(1, 1, 0)}
    assert {versions[m] for m in meters[2:]} == {Version(1, 0, 0)}  # not yet
    for _ in range(2):
        assert api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR).status_code == 200
        deployment.run_virtual(1800)
    done = status(api, number)
    assert done["state"] == "done" and done["counts"] == {"done": 6}, done
    assert done["command"] == "done"
    assert set(running(deployment).values()) == {Version(1, 1, 0)}
    trail = [row.detail for row in deployment.storage.audit()]
    assert any("approved by shi" in d for d in trail) and any(
        "done: every wave" in d for d in trail
    )


def test_a_canary_that_rolls_back_stops_the_campaign() -> None:
    deployment, api = fleet()
    meters = sorted(running(deployment))
    bad = meters[0]
    for net in deployment.nets:  # this meter's new image fails its self-test
        net.self_test = lambda address: address.hex() != bad
    stored = upload(api, new_image(deployment))
    number = campaign(api, {"kind": "firmware upgrade", "image": stored["digest"],
                            "meters": meters, "canary_share": 0.3, "wave_sizes": [4],
                            "max_failure_rate": 0.2, "auto_advance": True})  # fmt: skip
    api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR)
    deployment.run_virtual(3600)
    stopped = status(api, number)
    assert stopped["state"] == "stopped", stopped
    assert "rolled back" in str(stopped["reason"]) and "wave 1" in str(stopped["reason"])
    steps = {m["meter"]: m["step"] for m in stopped["meters"]}  # type: ignore[attr-defined]
    assert steps[bad] == "rolled back"
    assert [steps[m] for m in meters[2:]] == ["pending"] * 4  # never reached
    versions = running(deployment)
    assert versions[bad] == Version(1, 0, 0) and versions[meters[1]] == Version(1, 1, 0)
    assert {versions[m] for m in meters[2:]} == {Version(1, 0, 0)}
    assert stopped["command"] == "failed"
    events = deployment.storage.events(kind=EventKind.FIRMWARE)
    assert any(bad in e.source for e in events)  # the meter reported its rollback


def test_a_tampered_or_foreign_image_is_refused_at_upload_and_recorded() -> None:
    deployment, api = fleet(meters=3)
    image = bytearray(new_image(deployment))
    image[-3] ^= 0x01
    from wattguard.crypto import sm2

    rogue = FirmwareBuilder(sm2.PrivateKey.generate(), "WTGD").build(b"rogue " * 50, "9.0.0")
    for bad, why in ((bytes(image), "TAMPERED"), (rogue, "WRONG_SIGNER")):
        answer = api.post(
            "/api/firmware", json={"image": base64.b64encode(bad).decode()}, headers=SUPERVISOR
        )
        assert answer.status_code == 422 and why.lower() in answer.json()["detail"].lower()
    assert api.get("/api/firmware", headers=VIEWER).json() == []
    refused = deployment.storage.events(kind=EventKind.FIRMWARE)
    assert len([e for e in refused if e.source == "station/firmware"]) == 2
    answer = api.post("/api/firmware", json={"image": base64.b64encode(new_image(deployment))
                                             .decode()}, headers=OPERATOR)  # fmt: skip
    assert answer.status_code == 403


def test_a_restarted_station_resumes_each_meters_transfer(tmp_path: object) -> None:
    database = f"sqlite:///{tmp_path}/station.db"
    deployment, api = fleet(meters=3, database=database)
    meters = sorted(running(deployment))
    stored = upload(api, new_image(deployment))
    number = campaign(api, {"kind": "firmware upgrade", "image": stored["digest"],
                            "meters": meters, "canary_share": 1.0})  # fmt: skip
    api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR)
    deployment.run_virtual(60)
    partway = {m["meter"]: m["next_block"] for m in status(api, number)["meters"]}  # type: ignore[attr-defined]
    assert any(block > 0 for block in partway.values()), partway
    deployment.restart_station()
    api = TestClient(create_app(deployment.station, deployment.users))
    restored = status(api, number)
    assert restored["state"] == "running"
    assert {m["meter"]: m["next_block"] for m in restored["meters"]} == partway  # type: ignore[attr-defined]
    deployment.run_virtual(1800)
    assert status(api, number)["state"] == "done"
    assert set(running(deployment).values()) == {Version(1, 1, 0)}
