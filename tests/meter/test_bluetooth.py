"""The meter's Bluetooth service: pairing by certificate and PIN, roles, lockout, the sealed
session, and every attack of issue 6 scenario 8 refused and recorded when protected and
succeeding when not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError, IntegrityError
from wattguard.events import EventKind, EventLog
from wattguard.meter.bluetooth.access import (
    MAINTENANCE_SET,
    Role,
    denial,
    never_local,
    refusal_reason,
)
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import LockoutPolicy
from wattguard.meter.bluetooth.pairing import POINT, FrameType, RefusalCode
from wattguard.meter.bluetooth.service import BluetoothService
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.policy import SecurityPolicy
from wattguard.meter.management.relay import Relay, RelayState
from wattguard.meter.management.server import ApplicationServer
from wattguard.meter.management.storage import MemoryStore
from wattguard.protocol import OAD, OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu import action as act
from wattguard.protocol.apdu import get as g
from wattguard.protocol.apdu import set as st_
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import seeded

CA = sm2.PrivateKey.generate()
ROGUE_CA = sm2.PrivateKey.generate()
ADDRESS = bytes.fromhex("000000000001")
PIN = "482913"
NOW = 1_750_000_000.0
ENERGY = Data.array(Data(DataType.DOUBLE_LONG_UNSIGNED, 123456))


@dataclass
class Meter:
    """A small real 698 server behind the service: energy, clock, policy, relay."""

    relay: Relay = field(default_factory=Relay)
    policy: SecurityPolicy = field(default_factory=SecurityPolicy)
    clock: Data = field(default_factory=lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, 0))
    served: int = 0

    def server(self) -> ApplicationServer:
        model = ObjectModel()
        model.add_attribute(0x0010, 2, lambda: ENERGY)
        model.add_attribute(0x4000, 2, lambda: self.clock, self._set_clock)
        model.add_attribute(0xF101, 2, lambda: self.policy.attribute(2), self._set_policy)
        model.add_method(0x8000, 129, self._trip)
        # The BLE session is the protection here; the server's F101 policy is not under test.
        return ApplicationServer(model, SecurityPolicy(enforced=False), EventLog(), "server")

    def _set_clock(self, value: Data) -> None:
        self.clock = value

    def _set_policy(self, value: Data) -> None:
        self.policy.set_attribute(2, value)

    def _trip(self, value: Data) -> None:
        self.relay.trip(NOW)

    def handler(self) -> Callable[[bytes, Role], bytes]:
        server = self.server()

        def handle(apdu: bytes, role: Role) -> bytes:
            self.served += 1
            answer = server.handle(decode_apdu(apdu), NOW)
            assert answer is not None
            return answer.to_bytes()

        return handle


@dataclass
class Rig:
    meter: Meter
    service: BluetoothService
    log: EventLog
    clock: list[float]

    def transport(self, frame: bytes) -> bytes:
        return self.service.receive(frame, self.clock[0])

    def kinds(self) -> list[EventKind]:
        return [event.kind for event in self.log.events]


def rig(protected: bool = True, **kwargs: object) -> Rig:
    meter = Meter()
    log = EventLog()
    options: dict[str, object] = {"ca_public_key": CA.public_key, "pin": PIN}
    options.update(kwargs)
    service = BluetoothService(ADDRESS, meter.handler(), log, protected=protected, **options)  # type: ignore[arg-type]
    return Rig(meter, service, log, [NOW])


def issue(
    role: Role,
    serial: int = 7,
    ca: sm2.PrivateKey = CA,
    valid_from: float = NOW - 86400,
    valid_until: float = NOW + 86400,
) -> Handheld:
    key = sm2.PrivateKey.generate()
    certificate = HandheldCertificate.issue(
        ca,
        serial=serial,
        handheld_id=f"HH-{serial}",
        role=role,
        public_key=key.public_key,
        valid_from=int(valid_from),
        valid_until=int(valid_until),
    )
    return Handheld(f"HH-{serial}", private_key=key, certificate=certificate)


def get_energy() -> bytes:
    return g.GetRequestNormal(1, OAD(0x0010, 2)).to_bytes()


def set_clock(value: int = 99) -> bytes:
    return st_.SetRequestNormal(
        2, OAD(0x4000, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, value)
    ).to_bytes()


def set_policy_off() -> bytes:
    return st_.SetRequestNormal(3, OAD(0xF101, 2), Data(DataType.ENUM, 0)).to_bytes()


def trip() -> bytes:
    return act.ActionRequest(4, OMD(0x8000, 129), Data(DataType.NULL)).to_bytes()


def dar_of(answer: bytes) -> int:
    response = decode_apdu(answer)
    if isinstance(response, st_.SetResponseNormal):
        return response.dar
    assert isinstance(response, act.ActionResponseNormal)
    return response.result.dar


def attempts(log: EventLog) -> list[str]:
    """Every pairing attempt: failures (AUTHENTICATION) and successes (ACCESS), in order."""
    kinds = (EventKind.AUTHENTICATION, EventKind.ACCESS)
    return [e.detail for e in log.events if e.kind in kinds]


# Pairing and roles


def test_certificate_pairing_maintenance_reads_and_sets_allowed_parameters() -> None:
    r = rig()
    handheld = issue(Role.MAINTENANCE)
    assert handheld.pair_certificate(r.transport) == Role.MAINTENANCE
    assert r.service.session == ("#7 HH-7", Role.MAINTENANCE)
    answer = decode_apdu(handheld.request(r.transport, get_energy()))
    assert isinstance(answer, g.GetResponseNormal) and answer.result.result == ENERGY
    assert dar_of(handheld.request(r.transport, set_clock(42))) == DAR.SUCCESS
    assert r.meter.clock.value == 42
    assert attempts(r.log) == ["success: #7 HH-7 paired by certificate as MAINTENANCE"]
    assert r.kinds() == [EventKind.ACCESS]


def test_pin_pairing_is_read_only() -> None:
    r = rig()
    handheld = Handheld("tech-1")
    assert handheld.pair_pin(r.transport, PIN) == Role.READ_ONLY
    assert isinstance(decode_apdu(handheld.request(r.transport, get_energy())), g.GetResponseNormal)
    served = r.meter.served
    assert dar_of(handheld.request(r.transport, set_clock(42))) == DAR.READ_WRITE_DENIED
    assert r.meter.served == served and r.meter.clock.value == 0  # never reached the server
    (refusal,) = r.log.of_kind(EventKind.UNAUTHORISED)
    assert "READ_ONLY" in refusal.detail and "maintenance" in refusal.detail


@pytest.mark.parametrize("request_", [set_policy_off, trip], ids=["security policy", "relay"])
def test_maintenance_never_reaches_keys_relay_or_wallet(request_: Callable[[], bytes]) -> None:
    # Protected: refused, recorded, nothing changed.
    r = rig()
    handheld = issue(Role.MAINTENANCE)
    handheld.pair_certificate(r.transport)
    assert dar_of(handheld.request(r.transport, request_())) == DAR.READ_WRITE_DENIED
    assert r.meter.relay.state == RelayState.CLOSED and r.meter.policy.enforced
    assert r.log.of_kind(EventKind.UNAUTHORISED)
    # Unprotected: the same request trips the relay or switches security off.
    r = rig(protected=False)
    assert dar_of(Handheld("anyone").request_plain(r.transport, request_())) == DAR.SUCCESS
    assert r.meter.relay.state == RelayState.TRIPPED or not r.meter.policy.enforced


def test_the_maintenance_list_names_no_forbidden_object() -> None:
    assert not any(never_local(oi) for oi in MAINTENANCE_SET)
    assert never_local(0xF100) and never_local(0x8000) and never_local(0x202C)


# Scenario 8: unauthenticated reads and writes


@pytest.mark.parametrize("apdu", [get_energy, set_clock], ids=["read", "write"])
def test_unauthenticated_requests(apdu: Callable[[], bytes]) -> None:
    r = rig()
    with pytest.raises(PairingRefused) as caught:
        Handheld("anyone").request_plain(r.transport, apdu())
    assert caught.value.code == RefusalCode.NOT_PAIRED
    assert r.meter.served == 0
    assert r.kinds() == [EventKind.UNAUTHORISED]
    # A sealed-looking frame without a session is refused too.
    fake = bytes([FrameType.DATA]) + bytes(8) + apdu() + bytes(16)
    assert r.transport(fake)[:2] == bytes([FrameType.REFUSED, RefusalCode.NOT_PAIRED])
    # Unprotected: served without pairing.
    r = rig(protected=False)
    answer = decode_apdu(Handheld("anyone").request_plain(r.transport, apdu()))
    assert isinstance(answer, g.GetResponseNormal | st_.SetResponseNormal)
    assert r.meter.served == 1


# Scenario 8: role escalation


def test_role_escalation_with_a_read_only_pin() -> None:
    r = rig()
    with pytest.raises(PairingRefused) as caught:
        Handheld("tech-1").pair_pin(r.transport, PIN, Role.MAINTENANCE)
    assert caught.value.code == RefusalCode.AUTHENTICATION_FAILED
    assert "role escalation" in attempts(r.log)[0]
    assert r.service.session is None
    r = rig(protected=False)
    handheld = Handheld("tech-1")
    assert handheld.pair_pin(r.transport, "000000", Role.MAINTENANCE) == Role.MAINTENANCE
    assert dar_of(handheld.request(r.transport, set_policy_off())) == DAR.SUCCESS


def test_role_escalation_by_editing_the_certificate() -> None:
    genuine = issue(Role.READ_ONLY)
    assert genuine.certificate is not None and genuine.private_key is not None
    promoted = replace(genuine.certificate, role=Role.MAINTENANCE)  # the CA's signature kept
    handheld = Handheld("HH-7", private_key=genuine.private_key, certificate=promoted)
    r = rig()
    with pytest.raises(PairingRefused):
        handheld.pair_certificate(r.transport)
    assert "not signed by the utility CA" in attempts(r.log)[0]
    r = rig(protected=False)
    assert handheld.pair_certificate(r.transport) == Role.MAINTENANCE


def test_read_only_certificate_cannot_set() -> None:
    r = rig()
    handheld = issue(Role.READ_ONLY)
    handheld.pair_certificate(r.transport)
    assert dar_of(handheld.request(r.transport, set_clock())) == DAR.READ_WRITE_DENIED


# Certificates


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: issue(Role.MAINTENANCE, ca=ROGUE_CA), "not signed by the utility CA"),
        (lambda: issue(Role.MAINTENANCE, valid_until=NOW - 1), "expired"),
        (lambda: issue(Role.MAINTENANCE, valid_from=NOW + 60), "not valid yet"),
        (lambda: issue(Role.MAINTENANCE, serial=666), "revoked"),
    ],
    ids=["rogue CA", "expired", "not yet valid", "revoked"],
)
def test_bad_certificates(make: Callable[[], Handheld], reason: str) -> None:
    r = rig(revoked=[666])
    with pytest.raises(PairingRefused):
        make().pair_certificate(r.transport)
    assert reason in attempts(r.log)[0] and attempts(r.log)[0].startswith("failure")
    assert r.service.session is None
    r = rig(protected=False, revoked=[666])
    assert make().pair_certificate(r.transport) == Role.MAINTENANCE


def test_a_handheld_is_not_built_with_a_certificate_for_another_key() -> None:
    genuine = issue(Role.MAINTENANCE)
    with pytest.raises(ConfigError):
        Handheld("HH-7", private_key=sm2.PrivateKey.generate(), certificate=genuine.certificate)


def test_a_certificate_signed_by_another_key_than_its_own() -> None:
    genuine = issue(Role.MAINTENANCE)
    assert genuine.certificate is not None
    thief = Handheld("thief", private_key=sm2.PrivateKey.generate())
    thief.certificate = genuine.certificate  # the stolen certificate, without its private key
    r = rig()
    with pytest.raises(PairingRefused):
        thief.pair_certificate(r.transport)
    assert "signature does not verify" in attempts(r.log)[0]


def test_revocation_ends_the_session() -> None:
    r = rig()
    handheld = issue(Role.MAINTENANCE, serial=9)
    handheld.pair_certificate(r.transport)
    r.service.revoke(9)
    with pytest.raises(PairingRefused):
        handheld.request(r.transport, get_energy())
    with pytest.raises(PairingRefused):
        handheld.pair_certificate(r.transport)


def test_revocations_are_kept_in_the_store() -> None:
    store = MemoryStore()
    r = rig(store=store)
    r.service.revoke(11)
    r.service.revoke(3)
    again = rig(store=store)
    assert again.service.revoked == {3, 11}


# Scenario 8: PIN brute force and the lockout


def brute_force(r: Rig, seconds: float) -> tuple[int, str | None]:
    """Try PINs in order as fast as the service lets; returns (guesses judged, PIN found)."""
    end = r.clock[0] + seconds
    guess = 0
    while r.clock[0] <= end and guess < 10**6:
        judged = len(attempts(r.log))
        try:
            Handheld("attacker").pair_pin(r.transport, f"{guess:06d}")
            return guess + 1, f"{guess:06d}"
        except PairingRefused as refused:
            if len(attempts(r.log)) > judged:
                guess += 1
            r.clock[0] += refused.retry_after  # wait out a lock, as an attacker would
    return guess, None


def test_lockout_after_five_failures_with_exponential_back_off() -> None:
    r = rig()
    for _ in range(4):
        with pytest.raises(PairingRefused) as caught:
            Handheld("attacker").pair_pin(r.transport, "000000")
        assert caught.value.code == RefusalCode.AUTHENTICATION_FAILED
    with pytest.raises(PairingRefused) as caught:
        Handheld("attacker").pair_pin(r.transport, "000000")
    assert (caught.value.code, caught.value.retry_after) == (RefusalCode.LOCKED, 60)
    # While locked, even the right PIN is not judged, and the attempt is not counted.
    r.clock[0] += 30
    with pytest.raises(PairingRefused) as caught:
        Handheld("tech").pair_pin(r.transport, PIN)
    assert (caught.value.code, caught.value.retry_after) == (RefusalCode.LOCKED, 30)
    assert "while locked" in r.log.of_kind(EventKind.LOCKOUT)[-1].detail
    r.clock[0] += 30
    for _ in range(5):
        with pytest.raises(PairingRefused) as caught:
            Handheld("attacker").pair_pin(r.transport, "000001")
    assert caught.value.retry_after == 120  # twice as long
    assert len(attempts(r.log)) == 10  # every judged attempt logged; the locked one as LOCKOUT
    r.clock[0] += 120
    Handheld("tech").pair_pin(r.transport, PIN)  # success resets
    assert r.service.lockout.level == 0 and r.service.lockout.failures == 0


def test_brute_force_of_the_pin_space() -> None:
    hour = 3600.0
    # Protected: 30 guesses in the first hour (the lockout schedule), the PIN not found.
    r = rig(pin="000042")
    guesses, found = brute_force(r, hour)
    assert found is None
    assert guesses == LockoutPolicy().guesses_within(hour) == 30
    assert r.log.of_kind(EventKind.LOCKOUT)
    # Without the lockout the same attack finds it at the 43rd guess.
    r = rig(pin="000042", lockout=LockoutPolicy(max_failures=10**9))
    assert brute_force(r, hour) == (43, "000042")
    # Unprotected: the first guess pairs.
    r = rig(protected=False, pin="000042")
    assert brute_force(r, hour) == (1, "000000")


def test_a_power_cycle_does_not_clear_the_lockout() -> None:
    store = MemoryStore()
    r = rig(store=store)
    for _ in range(5):
        with pytest.raises(PairingRefused):
            Handheld("attacker").pair_pin(r.transport, "111111")
    rebooted = rig(store=store)
    with pytest.raises(PairingRefused) as caught:
        Handheld("attacker").pair_pin(rebooted.transport, PIN)
    assert caught.value.code == RefusalCode.LOCKED


def test_guesses_a_year() -> None:
    policy = LockoutPolicy()
    year = 365 * 86400.0
    assert policy.guesses_within(year) == 1875  # docs/bluetooth.md
    assert policy.guesses_within(year) / 10**6 < 0.002


# Replay, tampering, man in the middle


def test_a_recorded_pairing_cannot_be_replayed() -> None:
    r = rig()
    frames: list[bytes] = []

    def record(frame: bytes) -> bytes:
        frames.append(frame)
        return r.transport(frame)

    Handheld("tech").pair_pin(record, PIN)
    pair, proof = frames
    r.transport(pair)  # a fresh challenge
    assert r.transport(proof)[:2] == bytes([FrameType.REFUSED, RefusalCode.AUTHENTICATION_FAILED])
    assert "wrong PIN" in attempts(r.log)[-1]


def test_session_frames_altered_or_replayed_are_refused() -> None:
    r = rig()
    handheld = issue(Role.MAINTENANCE)
    handheld.pair_certificate(r.transport)
    frame = handheld.seal(set_clock(5))
    altered = bytearray(frame)
    altered[12] ^= 1
    assert r.transport(bytes(altered))[:2] == bytes([FrameType.REFUSED, RefusalCode.INTEGRITY])
    assert handheld.open(r.transport(frame))  # the genuine one is served
    r.meter.clock = Data(DataType.DOUBLE_LONG_UNSIGNED, 0)
    assert r.transport(frame)[:2] == bytes([FrameType.REFUSED, RefusalCode.REPLAY])
    assert r.meter.clock.value == 0
    assert EventKind.BAD_MAC in r.kinds() and EventKind.REPLAY in r.kinds()
    # Unprotected: a recorded plain SET replays.
    r = rig(protected=False)
    plain = bytes([FrameType.PLAIN]) + set_clock(5)
    r.transport(plain)
    r.meter.clock = Data(DataType.DOUBLE_LONG_UNSIGNED, 0)
    r.transport(plain)
    assert r.meter.clock.value == 5


def test_a_man_in_the_middle_swapping_the_key_agreement_is_caught() -> None:
    r = rig()
    mallory = sm2.PrivateKey.generate().public_key.to_bytes()

    def swap(frame: bytes) -> bytes:
        answer = r.transport(frame)
        if answer[0] == FrameType.CHALLENGE:  # replace the meter's ephemeral key with his own
            start = 2 + answer[1]
            answer = answer[:start] + mallory + answer[start + POINT :]
        return answer

    with pytest.raises(PairingRefused):
        issue(Role.MAINTENANCE).pair_certificate(swap)
    assert "signature does not verify" in attempts(r.log)[0]


def test_the_handheld_checks_the_meters_confirmation() -> None:
    r = rig()
    handheld = Handheld("tech")
    challenge = r.transport(handheld.start_pin())
    paired = bytearray(r.transport(handheld.prove(challenge, PIN)))
    paired[-1] ^= 1
    with pytest.raises(IntegrityError):
        handheld.finish(bytes(paired))


def test_a_challenge_expires_and_answers_one_proof() -> None:
    r = rig()
    handheld = Handheld("tech")
    challenge = r.transport(handheld.start_pin())
    r.clock[0] += 31
    assert r.transport(handheld.prove(challenge, PIN))[1] == RefusalCode.NOT_PAIRED
    assert r.transport(bytes([FrameType.PROOF]) + bytes(32))[1] == RefusalCode.NOT_PAIRED


def test_an_idle_session_expires() -> None:
    r = rig()
    handheld = Handheld("tech")
    handheld.pair_pin(r.transport, PIN)
    r.clock[0] += 301
    with pytest.raises(PairingRefused) as caught:
        handheld.request(r.transport, get_energy())
    assert caught.value.code == RefusalCode.NOT_PAIRED
    assert "expired" in r.log.of_kind(EventKind.UNAUTHORISED)[0].detail


# Bad input


def test_malformed_frames_are_refused_and_recorded() -> None:
    r = rig()
    good = Handheld("tech").start_pin()
    for frame in (
        b"",
        b"\x7f",
        bytes([FrameType.CHALLENGE]) + bytes(90),  # a meter's frame sent to the meter
        good[:-1],
        good + b"\x00",
        good[:5] + bytes(POINT) + good[5 + POINT :],  # not a curve point
        bytes([FrameType.PAIR_CERTIFICATE, 0, 3]) + b"abc" + good[-81:],
        bytes(5000),
    ):
        answer = r.transport(frame)
        assert answer[:2] == bytes([FrameType.REFUSED, RefusalCode.MALFORMED]), frame[:8]
    assert set(r.kinds()) == {EventKind.MALFORMED}
    assert r.service.lockout.failures == 0


def test_an_undecodable_apdu_in_a_session() -> None:
    r = rig()
    handheld = Handheld("tech")
    handheld.pair_pin(r.transport, PIN)
    answer = decode_apdu(handheld.request(r.transport, b"\x05\x01"))
    assert type(answer).__name__ == "ErrorResponse"
    assert r.log.of_kind(EventKind.MALFORMED)


def test_a_failing_handler_does_not_take_the_port_down() -> None:
    def broken(apdu: bytes, role: Role) -> bytes:
        raise RuntimeError("bug")

    service = BluetoothService(ADDRESS, broken, EventLog(), pin=PIN)
    handheld = Handheld("tech")
    handheld.pair_pin(lambda f: service.receive(f, NOW), PIN)
    answer = decode_apdu(handheld.request(lambda f: service.receive(f, NOW), get_energy()))
    assert type(answer).__name__ == "ErrorResponse"


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        BluetoothService(ADDRESS, Meter().handler(), EventLog(), pin="12345")
    with pytest.raises(ConfigError):
        Handheld("x").pair_pin(rig().transport, "abcdef")


@settings(max_examples=200)
@given(frame=st.binary(max_size=300))
def test_any_bytes_get_an_answer_never_an_exception(frame: bytes) -> None:
    r = rig()
    answer = r.service.receive(frame, NOW)
    assert isinstance(answer, bytes) and answer
    assert r.service.session is None


def test_reproducible_with_a_seeded_random() -> None:
    frames = []
    for _ in range(2):
        service = BluetoothService(
            ADDRESS, Meter().handler(), EventLog(), pin=PIN, random=seeded(b"service")
        )
        handheld = Handheld("tech", random=seeded(b"handheld"))
        frames.append(service.receive(handheld.start_pin(), NOW))
    assert frames[0] == frames[1]


# The certificate and the access table on their own


def test_certificate_round_trip_and_malformed_certificates() -> None:
    handheld = issue(Role.READ_ONLY, serial=2**40)
    certificate = handheld.certificate
    assert certificate is not None
    data = certificate.to_bytes()
    assert HandheldCertificate.from_bytes(data) == certificate
    assert len(data) == 84 + len("HH-1099511627776") + 64
    certificate.check(CA.public_key, NOW)
    for bad, offset in (
        (data[:-1], None),
        (data + b"\x00", None),
        (b"\x03" + data[1:], 0),  # another format
        (data[:9] + b"\x07" + data[10:], 9),  # unknown role
        (data[:18] + bytes(65) + data[83:], 18),  # not a point
        (data[:83] + b"\x00" + data[84:], 83),  # empty id
    ):
        with pytest.raises(DecodeError) as caught:
            HandheldCertificate.from_bytes(bad)
        if offset is not None:
            assert caught.value.offset == offset
    with pytest.raises(ConfigError):
        HandheldCertificate.issue(
            CA, serial=1, handheld_id="", role=Role.READ_ONLY,
            public_key=CA.public_key, valid_from=0, valid_until=1,
        )  # fmt: skip


def test_access_table() -> None:
    clock = OAD(0x4000, 2)
    value = Data(DataType.DOUBLE_LONG_UNSIGNED, 1)
    allowed = st_.SetRequestNormalList(1, (st_.SetItem(clock, value),))
    policy = OAD(0xF101, 2)
    mixed = st_.SetRequestNormalList(1, (st_.SetItem(clock, value), st_.SetItem(policy, value)))
    assert refusal_reason(allowed, Role.MAINTENANCE) is None
    assert "F101" in (refusal_reason(mixed, Role.MAINTENANCE) or "")
    answer = denial(mixed)
    assert isinstance(answer, st_.SetResponseNormalList)
    assert [r.dar for r in answer.results] == [DAR.READ_WRITE_DENIED] * 2
    for request in (
        g.GetRequestNormalList(1, (OAD(0x0010, 2), OAD(0xF100, 2))),
        g.GetRequestNormal(1, OAD(0xF101, 2)),
    ):
        assert refusal_reason(request, Role.READ_ONLY) is None
    actions = act.ActionRequestList(1, (act.ActionItem(OMD(0x8000, 130), value),))
    assert refusal_reason(actions, Role.MAINTENANCE) is not None
    assert isinstance(denial(actions), act.ActionResponseNormalList)
    connect_like = decode_apdu(bytes.fromhex("030100"))  # RELEASE-Request
    assert refusal_reason(connect_like, Role.MAINTENANCE) is not None
    assert type(denial(connect_like)).__name__ == "ErrorResponse"
