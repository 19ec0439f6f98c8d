"""Key and certificate updates per district through the running deployment's API: a second
supervisor approves, each meter's ESAM moves to the new keys (the old keys are refused
afterwards, the new ones read), a meter that did not answer is retried with backoff until it
does, and a station certificate reaches every meter's ESAM."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from wattguard.crypto import sm2
from wattguard.errors import DecodeError
from wattguard.esam.profile import MasterKeys
from wattguard.esam.provisioning import station_certificate
from wattguard.esam.station import StationSecurity
from wattguard.meter.device import Meter
from wattguard.network.hplc import Direction
from wattguard.protocol import OAD, Data, decode_apdu, decode_frame
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse, VerificationKind
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START
from wattguard.testing.meter import Line

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
ENERGY = GetRequestNormal(5, OAD(0x0010, 2, 0))


def fleet() -> tuple[Deployment, TestClient]:
    config = DeploymentConfig(meters=4, per_terminal=2, start=START, seed=11)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(600)
    return deployment, TestClient(create_app(deployment.station, deployment.users))


def meters_of(deployment: Deployment, k: int) -> dict[str, Meter]:
    return {a.hex(): m for a, m in deployment.nets[k].meters.items()}


def approved(api: TestClient, body: dict[str, object]) -> int:
    made = api.post("/api/campaigns", json=body, headers=SUPERVISOR)
    assert made.status_code == 201, made.text
    number = int(made.json()["id"])
    answer = api.post(f"/api/campaigns/{number}/approve", headers=SECOND)
    assert answer.status_code == 200, answer.text
    assert api.post(f"/api/campaigns/{number}/start", headers=SUPERVISOR).status_code == 200
    return number


def status(api: TestClient, number: int) -> dict[str, object]:
    return dict(api.get(f"/api/campaigns/{number}", headers=VIEWER).json())


def test_a_district_key_update_moves_every_meter_to_the_new_keys() -> None:
    deployment, api = fleet()
    assert deployment.hsm is not None
    old_master = deployment.hsm.security.master(1)
    deployment.hsm.rotate(MasterKeys.generate(2, os.urandom))
    district = deployment.nets[0].terminal.address.hex()
    number = approved(api, {"kind": "key update", "districts": [district], "key_version": 2})
    deployment.run_virtual(300)
    done = status(api, number)
    assert done["state"] == "done" and done["counts"] == {"done": 2}, done
    assert all(m["reported"] == "2" for m in done["meters"])  # type: ignore[attr-defined]
    now = deployment.clock.time()
    for address, meter in meters_of(deployment, 0).items():
        esam = meter.management.esam
        assert esam is not None and esam.info(now).key_version == 2
        line = Line(meter)
        old = StationSecurity([old_master])
        old.register(meter.address, key_version=1, command_counter=10**6)
        refused = line.exchange(old.wrap(meter.address, ENERGY.to_bytes()), now)
        assert isinstance(refused, SecurityResponse) and refused.payload.dar is not None
        request = deployment.hsm.protect(meter.address, ENERGY.to_bytes())
        fresh = line.exchange(request, now)
        assert isinstance(fresh, SecurityResponse) and fresh.payload.dar is None
        answer = decode_apdu(deployment.hsm.open_response(meter.address, request, fresh))
        assert isinstance(answer, GetResponseNormal) and isinstance(answer.result.result, Data)
        assert deployment.hsm.key_version(bytes.fromhex(address)) == 2
    for meter in meters_of(deployment, 1).values():  # the other district is untouched
        esam = meter.management.esam
        assert esam is not None and esam.info(now).key_version == 1
    before = deployment.storage.count_readings()
    deployment.run_virtual(1800)  # readings under the new keys still verify
    updated = set(meters_of(deployment, 0))
    fresh_readings = deployment.storage.latest("00100201", meters=updated)
    assert deployment.storage.count_readings() > before
    assert {r.meter for r in fresh_readings if r.time > now} == updated


def test_a_meter_that_did_not_answer_is_retried_with_backoff() -> None:
    deployment, api = fleet()
    assert deployment.hsm is not None
    deployment.hsm.rotate(MasterKeys.generate(2, os.urandom))
    terminal = deployment.nets[1].terminal.address
    deployment.disconnect(terminal)  # its meters cannot be reached
    number = approved(api, {"kind": "key update", "districts": [terminal.hex()]})
    deployment.run_virtual(600)
    waiting = status(api, number)
    assert waiting["state"] == "running"
    rows = waiting["meters"]  # type: ignore[assignment]
    assert all(m["step"] == "transferring" and m["attempts"] >= 1 for m in rows), rows
    assert all("no answer" in m["detail"] for m in rows)
    tries = {m["meter"]: (m["attempts"], m["next_try"]) for m in rows}
    deployment.reconnect(terminal)
    deployment.run_virtual(3600)
    done = status(api, number)
    assert done["state"] == "done", done
    for meter in meters_of(deployment, 1).values():
        esam = meter.management.esam
        assert esam is not None and esam.info(deployment.clock.time()).key_version == 2
    assert all(attempts < 5 for attempts, _ in tries.values())


def test_a_key_update_whose_answer_was_lost_is_found_done_not_repeated() -> None:
    deployment, api = fleet()
    assert deployment.hsm is not None
    deployment.hsm.rotate(MasterKeys.generate(2, os.urandom))
    net = deployment.nets[0]
    target = sorted(meters_of(deployment, 0))[0]
    armed, dropped = [False], []

    def lose_the_answer(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
        """The first answer to a station's command (SID_MAC) to ``target`` is lost."""
        if address.hex() != target:
            return [data]
        try:
            frame = decode_frame(data)
            apdu = decode_apdu(frame.apdu)
        except DecodeError:
            return [data]
        command = isinstance(apdu, SecurityRequest) and apdu.verification.kind == (
            VerificationKind.SID_MAC
        )  # fmt: skip
        if direction == Direction.DOWN and command and not dropped:
            armed[0] = True
        elif direction == Direction.UP and armed[0] and frame.control.client_started:
            armed[0] = False
            dropped.append(data)
            return []
        return [data]

    net.channel.manipulate = lose_the_answer
    number = approved(api, {"kind": "key update", "meters": [target]})
    deployment.run_virtual(1800)
    done = status(api, number)
    assert len(dropped) == 1 and done["state"] == "done", done
    (row,) = done["meters"]  # type: ignore[misc]
    assert "answer was lost" in row["detail"] and row["attempts"] == 1, row
    esam = meters_of(deployment, 0)[target].management.esam
    assert esam is not None and esam.info(deployment.clock.time()).key_version == 2
    assert deployment.hsm.key_version(bytes.fromhex(target)) == 2
    now = deployment.clock.time()
    deployment.run_virtual(1800)  # and the station still reads it, under the new keys
    assert [r.time > now for r in deployment.storage.latest("00100201", [target])] == [True]


def test_a_station_certificate_update_reaches_the_meters() -> None:
    deployment, api = fleet()
    assert deployment.hsm is not None and deployment.hsm.ca_key is not None
    station_key = sm2.PrivateKey.generate()
    certificate = station_certificate(
        deployment.hsm.ca_key, station_key.public_key, serial=2, now=deployment.clock.time()
    )
    district = deployment.nets[0].terminal.address.hex()
    body = {"kind": "certificate update", "districts": [district],
            "certificate": certificate.to_bytes().hex()}  # fmt: skip
    number = approved(api, body)
    deployment.run_virtual(300)
    assert status(api, number)["state"] == "done"
    now = deployment.clock.time()
    for meter in meters_of(deployment, 0).values():
        esam = meter.management.esam
        assert esam is not None and esam.info(now).station_certificate == certificate.to_bytes()
    rogue = station_certificate(station_key, station_key.public_key, serial=3, now=now)
    body["certificate"] = rogue.to_bytes().hex()
    number = approved(api, body)
    deployment.run_virtual(300)
    refused = status(api, number)
    assert refused["counts"] == {"failed": 2}, refused
    assert all("DAR" in m["detail"] for m in refused["meters"])  # type: ignore[attr-defined]
