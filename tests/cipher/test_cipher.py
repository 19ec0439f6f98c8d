"""The cryptographic device: vault, audit chain, protection and verification with real meters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattguard.cipher import AuditChain, CryptoDevice, VaultError, load_vault, save_vault
from wattguard.crypto import sm2
from wattguard.errors import IntegrityError, SecurityError
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventKind, EventLog
from wattguard.meter.device import Meter
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import (
    OAD,
    OMD,
    ClientConnection,
    Data,
    DataType,
    ServerAddress,
    decode_apdu,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import SecurityResponse
from wattguard.protocol.connection import Response

KEYS = MasterKeys(1, {k: bytes([k * 3 % 256]) * 16 for k in KeyId})
CA = sm2.PrivateKey.generate()
A, B = bytes.fromhex("000000000011"), bytes.fromhex("000000000012")
T0 = 1_790_000_000.0
HOUSE = Measurement(voltage=229.5, current=8.7, active_power=1900.0, reactive_power=400.0)


class Line:
    """The station's side of one meter's power line."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.connection = ClientConnection(ServerAddress(meter.address))

    def exchange(self, apdu: Structure, now: float) -> Structure:
        self.connection.send_request(apdu, now)
        self.meter.receive_hplc(self.connection.data_to_send(), now)
        self.connection.receive_data(self.meter.hplc_output(), now)
        event = self.connection.next_event()
        assert isinstance(event, Response), event
        answer: Structure = event.response
        return answer


def device(**kwargs: object) -> CryptoDevice:
    return CryptoDevice([KEYS], ca_key=CA, clock=lambda: T0, **kwargs)  # type: ignore[arg-type]


def fitted_meter(hsm: CryptoDevice, address: bytes) -> Meter:
    client = EsamClient(hsm.provision_esam(address))
    meter = Meter(address, esam=client, wallet=client)
    meter.power_up(T0)
    for minute in range(1, 11):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter


def test_vault_round_trip_wrong_passphrase_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "keys.vault"
    save_vault(path, [KEYS], "correct horse", iterations=1000)
    (loaded,) = load_vault(path, "correct horse")
    assert loaded.version == 1 and dict(loaded.keys) == dict(KEYS.keys)
    assert KEYS.keys[next(iter(KEYS.keys))] not in path.read_bytes()  # encrypted at rest
    with pytest.raises(VaultError, match="passphrase is wrong"):
        load_vault(path, "wrong horse")
    damaged = bytearray(path.read_bytes())
    damaged[-20] ^= 1
    path.write_bytes(bytes(damaged))
    with pytest.raises(VaultError, match="passphrase is wrong, or the vault is damaged"):
        load_vault(path, "correct horse")
    with pytest.raises(VaultError, match="no key vault"):
        load_vault(tmp_path / "missing", "x")
    with pytest.raises(VaultError, match="empty passphrase"):
        save_vault(path, [KEYS], "", iterations=1000)


def test_audit_chain_detects_alteration_deletion_and_reordering(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    chain = AuditChain(path)
    for i in range(5):
        chain.append("protect", f"meter {i}", T0 + i)
    reopened = AuditChain(path)
    assert reopened.verify() is None and reopened.head == chain.head
    lines = path.read_text().splitlines()

    def broken(edited: list[str]) -> int | None:
        path.write_text("\n".join(edited) + "\n")
        return AuditChain(path).verify()

    altered = json.loads(lines[2])
    altered["detail"] = "meter 99"
    assert broken([*lines[:2], json.dumps(altered), *lines[3:]]) == 2
    assert broken([*lines[:1], *lines[2:]]) == 1
    assert broken([lines[1], lines[0], *lines[2:]]) == 0
    with pytest.raises(IntegrityError, match="line 1"):
        broken(["not json", *lines])


def test_commands_protected_by_the_device_operate_the_meter_and_are_audited() -> None:
    hsm = device()
    meter = fitted_meter(hsm, A)
    trip = ActionRequest(1, OMD(0x8000, 129, 0), Data(DataType.NULL, None))
    answer = Line(meter).exchange(hsm.protect(A, trip.to_bytes(), operator="otto"), T0 + 700)
    assert isinstance(answer, SecurityResponse) and answer.payload.dar is None
    meter.step(T0 + 1000)
    assert meter.management.relay.state != RelayState.CLOSED
    actions = [e.action for e in hsm.audit.entries]
    assert actions[:3] == ["register", "provision", "protect"]
    assert "otto" in hsm.audit.entries[-1].detail and hsm.audit.verify() is None


def test_readings_verify_only_under_their_own_meters_keys() -> None:
    events = EventLog()
    hsm = device(events=events)
    meter_a, meter_b = fitted_meter(hsm, A), fitted_meter(hsm, B)
    request = wrap_with_rn(GetRequestNormal(1, OAD(0x0010, 2, 0)))
    answer = Line(meter_a).exchange(request, T0 + 700)
    assert isinstance(answer, SecurityResponse)
    inner = decode_apdu(hsm.open_response(A, request, answer))
    assert isinstance(inner, GetResponseNormal)
    with pytest.raises(SecurityError):
        hsm.open_response(B, request, answer)  # claimed to be B's: refused
    forged = SecurityResponse(answer.payload, bytes(4))
    with pytest.raises(SecurityError):
        hsm.open_response(A, request, forged)
    assert hsm.verified == 1 and hsm.refused == 2
    assert len(events.of_kind(EventKind.BAD_MAC)) == 2
    assert [e.action for e in hsm.audit.entries].count("refuse") == 2
    del meter_b


def test_counters_survive_a_restart_so_no_command_is_replayable(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    hsm = device(state_path=state)
    meter = fitted_meter(hsm, A)
    line = Line(meter)
    alarm = ActionRequest(1, OMD(0x8000, 127, 0), Data(DataType.NULL, None)).to_bytes()
    first = line.exchange(hsm.protect(A, alarm), T0 + 700)
    assert isinstance(first, SecurityResponse) and first.payload.dar is None
    restarted = device(state_path=state)  # same keys, counters from the state file
    again = line.exchange(restarted.protect(A, alarm), T0 + 800)
    assert isinstance(again, SecurityResponse) and again.payload.dar is None
    forgetful = device()  # without the state: its counter starts over, and the meter refuses
    stale = line.exchange(forgetful.protect(A, alarm), T0 + 900)
    assert isinstance(stale, SecurityResponse) and stale.payload.dar == 22


def test_device_opens_from_its_vault(tmp_path: Path) -> None:
    save_vault(tmp_path / "v", [KEYS], "pass phrase", iterations=1000)
    hsm = CryptoDevice.open(tmp_path / "v", "pass phrase", audit_path=tmp_path / "audit")
    assert hsm.audit.entries[0].action == "open"
    with pytest.raises(VaultError):
        CryptoDevice.open(tmp_path / "v", "other")
