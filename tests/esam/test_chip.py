"""Security transmission through the chip: every mode opens and answers, and each attack
(wrong key, another meter's key, an altered byte, a replayed counter, a stale key version) is
refused with its status word and a security event, leaving the chip as it was."""

from __future__ import annotations

import dataclasses

import pytest

from wattguard.errors import (
    CounterError,
    EsamError,
    IntegrityError,
    KeyVersionError,
    MacError,
    ReplayError,
    SecurityError,
)
from wattguard.esam import profile as p
from wattguard.esam.command import Sw
from wattguard.esam.station import StationSecurity, wrap_with_rn
from wattguard.events import EventKind
from wattguard.protocol import SID
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    Verification,
    VerificationKind,
)
from wattguard.testing import ADDRESS, OTHER, T0, seeded
from wattguard.testing.esam import MASTER, Rig, rig

GET = bytes.fromhex("0501010010020000")  # GET-Request-Normal 0010-0200
ANSWER = bytes.fromhex("850101001002000106000000be0000")
MODES = [
    (Protection.PLAINTEXT, VerificationKind.SID_MAC),
    (Protection.PLAINTEXT, VerificationKind.RN),
    (Protection.PLAINTEXT, VerificationKind.RN_MAC),
    (Protection.CIPHERTEXT, VerificationKind.SID_MAC),
    (Protection.CIPHERTEXT, VerificationKind.RN),
    (Protection.CIPHERTEXT, VerificationKind.RN_MAC),
    (Protection.CIPHERTEXT, VerificationKind.SID),
]


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes((data[at] ^ 0x01,)) + data[at + 1 :]


def refused(r: Rig, request: SecurityRequest, error: type[EsamError], sw: Sw) -> None:
    counters = r.client.info(T0).command_counter
    with pytest.raises(error) as caught:
        r.client.open_request(request, T0)
    assert caught.value.sw == sw
    assert r.client.info(T0).command_counter == counters  # nothing moved


@pytest.mark.parametrize(("protection", "kind"), MODES)
def test_every_mode_opens_and_its_answer_verifies_at_the_station(
    protection: Protection, kind: VerificationKind
) -> None:
    r = rig()
    request = r.station.wrap(ADDRESS, GET, protection=protection, verification=kind)
    if protection == Protection.CIPHERTEXT:
        assert GET not in request.to_bytes()
    assert r.client.open_request(request, T0) == GET
    response = r.client.protect_response(request, ANSWER, T0)
    assert response.payload.protection == protection and len(response.mac or b"") == 4
    if protection == Protection.CIPHERTEXT:
        assert ANSWER not in response.to_bytes()
    assert r.station.open_response(ADDRESS, request, response) == ANSWER
    assert not r.events.events


def test_a_wrong_key_is_refused_with_6988_and_a_bad_mac_event() -> None:
    r = rig()
    wrong = StationSecurity(p.MasterKeys.generate(1, seeded(b"attacker")), random=seeded(b"seed"))
    refused(r, wrong.wrap(ADDRESS, GET), MacError, Sw.BAD_MAC)
    assert r.events.events[-1].kind == EventKind.BAD_MAC
    assert "6988" in r.events.events[-1].detail


def test_a_command_for_another_meter_is_refused() -> None:
    r = rig()
    r.station.register(OTHER, key_version=1)
    refused(r, r.station.wrap(OTHER, GET), MacError, Sw.BAD_MAC)
    assert r.events.of_kind(EventKind.BAD_MAC)


def test_another_meters_keys_cannot_forge_a_command_for_this_one() -> None:
    # An attacker who opened meter OTHER holds its diversified keys and writes a command for
    # ADDRESS with them: the MAC does not hold, because ADDRESS's keys differ.
    r = rig()
    stolen = MASTER.for_meter(OTHER)
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.METER, 1, 1000, ADDRESS)
    tag = p.mac(stolen[p.KeyId.MAC], p.Label.REQUEST, sid.binding, b"\x00" + GET)
    forged = SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, GET),
        Verification(VerificationKind.SID_MAC, sid=SID(sid.ident, sid.attach), mac=tag),
    )
    refused(r, forged, MacError, Sw.BAD_MAC)
    # the same forgery with ADDRESS's own keys is accepted: the refusal was the keys
    own = MASTER.for_meter(ADDRESS)[p.KeyId.MAC]
    genuine = dataclasses.replace(
        forged,
        verification=dataclasses.replace(
            forged.verification, mac=p.mac(own, p.Label.REQUEST, sid.binding, b"\x00" + GET)
        ),
    )
    assert r.client.open_request(genuine, T0) == GET


def with_payload(request: SecurityRequest, **changes: object) -> SecurityRequest:
    return dataclasses.replace(request, payload=dataclasses.replace(request.payload, **changes))


def with_verification(request: SecurityRequest, **changes: object) -> SecurityRequest:
    verification = dataclasses.replace(request.verification, **changes)
    return dataclasses.replace(request, verification=verification)


@pytest.mark.parametrize("part", ["payload", "mac", "counter", "ident", "protection"])
def test_an_altered_byte_is_refused(part: str) -> None:
    r = rig()
    request = r.station.wrap(ADDRESS, GET, protection=Protection.CIPHERTEXT)
    sid = request.verification.sid
    assert sid is not None
    altered = {
        "payload": lambda: with_payload(request, data=flip(request.payload.data, 3)),
        "mac": lambda: with_verification(request, mac=flip(request.verification.mac, 0)),
        "counter": lambda: with_verification(request, sid=SID(sid.ident, flip(sid.additional, 3))),
        "ident": lambda: with_verification(request, sid=SID(sid.ident ^ 0x100, sid.additional)),
        "protection": lambda: with_payload(request, protection=Protection.PLAINTEXT),
    }[part]()
    with pytest.raises(EsamError) as caught:
        r.client.open_request(altered, T0)
    assert caught.value.sw in (Sw.BAD_MAC, Sw.BAD_DATA)
    assert r.events.events
    assert r.client.open_request(request, T0) == GET  # the unaltered one still goes through


@pytest.mark.parametrize("kind", [VerificationKind.SID_MAC, VerificationKind.RN_MAC])
def test_a_replayed_counter_is_refused_with_6989_and_a_replay_event(
    kind: VerificationKind,
) -> None:
    r = rig()
    first = r.station.wrap(ADDRESS, GET, verification=kind)
    second = r.station.wrap(ADDRESS, GET, verification=kind)
    assert r.client.open_request(second, T0) == GET
    for stale in (second, first):  # the same counter, and an older one
        with pytest.raises(CounterError) as caught:
            r.client.open_request(stale, T0)
        assert caught.value.sw == Sw.REPLAY
        assert isinstance(caught.value, ReplayError)
    assert [e.kind for e in r.events.events] == [EventKind.REPLAY, EventKind.REPLAY]


def test_a_plain_rn_read_carries_no_counter_and_may_be_repeated() -> None:
    r = rig()
    request = wrap_with_rn(GET, seeded(b"terminal"))
    for _ in range(2):
        assert r.client.open_request(request, T0) == GET
        response = r.client.protect_response(request, ANSWER, T0)
        assert r.station.open_response(ADDRESS, request, response) == ANSWER
    assert r.client.info(T0).command_counter == 0


def test_a_stale_key_version_is_refused_with_6a88() -> None:
    r = rig()
    r.station.register(ADDRESS, key_version=2)
    refused(r, r.station.wrap(ADDRESS, GET), KeyVersionError, Sw.KEY_VERSION)
    assert r.events.events[-1].kind == EventKind.KEY


def test_session_keys_without_a_session_are_refused_with_6982() -> None:
    r = rig()
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.SESSION, 1, 1, ADDRESS)
    request = SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, GET),
        Verification(VerificationKind.SID_MAC, sid=SID(sid.ident, sid.attach), mac=b"\x00" * 4),
    )
    refused(r, request, EsamError, Sw.SECURITY_STATUS)
    assert r.events.events[-1].kind == EventKind.AUTHENTICATION


def test_the_chip_answers_only_the_request_it_opened_and_only_once() -> None:
    r = rig()
    request = r.station.wrap(ADDRESS, GET)
    with pytest.raises(EsamError) as caught:  # nothing opened: no MAC on demand
        r.client.protect_response(request, ANSWER, T0)
    assert caught.value.sw == Sw.SECURITY_STATUS
    r.client.open_request(request, T0)
    r.client.protect_response(request, ANSWER, T0)
    with pytest.raises(EsamError):
        r.client.protect_response(request, b"\x85forged", T0)
    r.client.open_request(r.station.wrap(ADDRESS, GET), T0)
    with pytest.raises(MacError):  # a refused request clears what was opened before it
        r.client.open_request(with_verification(request, mac=b"\x00" * 4), T0)
    with pytest.raises(EsamError):
        r.client.protect_response(request, ANSWER, T0)


def test_the_station_refuses_an_altered_or_misbound_answer() -> None:
    r = rig()
    first, second = r.station.wrap(ADDRESS, GET), r.station.wrap(ADDRESS, GET)
    r.client.open_request(first, T0)
    response = r.client.protect_response(first, ANSWER, T0)
    altered = dataclasses.replace(
        response, payload=dataclasses.replace(response.payload, data=flip(ANSWER, 8))
    )
    for request, answer in [(first, altered), (second, response), (None, response)]:
        with pytest.raises(IntegrityError):
            r.station.open_response(ADDRESS, request, answer)
    with pytest.raises(SecurityError):
        r.station.open_response(OTHER, first, response)


def test_reports_verify_once_duplicates_pass_and_stale_ones_are_refused() -> None:
    r = rig()
    reports = [r.client.protect_report(b"\x88\x01\x01" + bytes([i]), T0) for i in range(70)]
    assert r.station.open_report(ADDRESS, reports[69]) == b"\x88\x01\x01\x45"
    assert r.station.open_report(ADDRESS, reports[69]) == b"\x88\x01\x01\x45"  # duplicate
    assert r.station.open_report(ADDRESS, reports[10]) == b"\x88\x01\x01\x0a"  # late, in window
    with pytest.raises(ReplayError):
        r.station.open_report(ADDRESS, reports[2])  # older than the window
    forged = dataclasses.replace(
        reports[11], payload=SecurityPayload(Protection.PLAINTEXT, b"\x88\x01\x01\xff")
    )
    with pytest.raises(IntegrityError):
        r.station.open_report(ADDRESS, forged)
    with pytest.raises(IntegrityError):
        r.station.open_report(OTHER, reports[12])
    assert r.client.info(T0).report_counter == 70
