"""CONNECT with both sides (symmetric and signature; a wrong signature or MAC refused), the
session keys in use and their expiry, and the sealed state (round trip, tamper refused)."""

from __future__ import annotations

import dataclasses

import pytest

from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError, IntegrityError, SecurityError
from wattguard.esam.chip import Esam
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import MasterKeys
from wattguard.esam.provisioning import station_certificate
from wattguard.esam.station import StationSecurity
from wattguard.events import EventKind
from wattguard.protocol.apdu.connect import ConnectResult, Mechanism, SecurityData
from wattguard.protocol.apdu.security import Protection
from wattguard.testing import ADDRESS, T0, seeded
from wattguard.testing.esam import CA_KEY, DEVICE_KEY, MASTER, Rig, make_esam, rig

GET = bytes.fromhex("0501010010020000")


def connect(r: Rig, mechanism: Mechanism) -> SecurityData | ConnectResult:
    certificate = r.client.info(T0).certificate
    offer = r.station.connect_mechanism(ADDRESS, mechanism, T0, esam_certificate=certificate)
    return r.client.connect(offer, T0)


def session_round_trip(r: Rig) -> None:
    request = r.station.wrap(ADDRESS, GET, protection=Protection.CIPHERTEXT, session=True)
    assert r.client.open_request(request, T0) == GET
    response = r.client.protect_response(request, b"\x85answer", T0)
    assert r.station.open_response(ADDRESS, request, response) == b"\x85answer"


@pytest.mark.parametrize("mechanism", [Mechanism.SYMMETRIC, Mechanism.SIGNATURE])
def test_connect_negotiates_session_keys_both_sides_agree_on(mechanism: Mechanism) -> None:
    r = rig()
    answer = connect(r, mechanism)
    assert isinstance(answer, SecurityData) and len(answer.server_random) == 16
    r.station.accept_connect(ADDRESS, answer)
    session_round_trip(r)
    assert 0 < r.client.info(T0 + 60).session_remaining <= 7200 - 60


def test_a_connect_signed_by_a_key_the_ca_did_not_certify_is_refused() -> None:
    r = rig()
    impostor = StationSecurity(
        MASTER,
        identity=sm2.PrivateKey.from_bytes(sm3.hash(b"impostor")),
        ca_public=CA_KEY.public_key,
        random=seeded(b"impostor"),
    )
    certificate = r.client.info(T0).certificate
    offer = impostor.connect_mechanism(
        ADDRESS, Mechanism.SIGNATURE, T0, esam_certificate=certificate
    )
    assert r.client.connect(offer, T0) == ConnectResult.SIGNATURE_ERROR
    assert r.events.events[-1].kind == EventKind.AUTHENTICATION
    # the genuine station's offer is accepted: the refusal was the signature
    assert isinstance(connect(r, Mechanism.SIGNATURE), SecurityData)


def test_an_altered_signature_or_symmetric_mac_is_refused() -> None:
    r = rig()
    certificate = r.client.info(T0).certificate
    signed = r.station.connect_mechanism(
        ADDRESS, Mechanism.SIGNATURE, T0, esam_certificate=certificate
    )
    bad = dataclasses.replace(signed, signature=bytes(64))
    assert r.client.connect(bad, T0) == ConnectResult.SIGNATURE_ERROR
    symmetric = r.station.connect_mechanism(ADDRESS, Mechanism.SYMMETRIC, T0)
    bad = dataclasses.replace(symmetric, ciphertext=bytes(16))
    assert r.client.connect(bad, T0) == ConnectResult.SYMMETRIC_DECRYPTION_ERROR
    assert len(r.events.of_kind(EventKind.AUTHENTICATION)) == 2


def test_the_station_refuses_an_answer_the_esam_did_not_make() -> None:
    r = rig()
    for mechanism in (Mechanism.SYMMETRIC, Mechanism.SIGNATURE):
        answer = connect(r, mechanism)
        assert isinstance(answer, SecurityData)
        forged = SecurityData(answer.server_random[::-1], answer.signature)
        with pytest.raises(IntegrityError):
            r.station.accept_connect(ADDRESS, forged)
    with pytest.raises(IntegrityError):  # no offer outstanding
        r.station.accept_connect(ADDRESS, answer)


def test_the_station_refuses_an_esam_certificate_for_another_meter_or_ca() -> None:
    r = rig()
    other = make_esam(bytes.fromhex("000000000002"))
    other_certificate = EsamClient(other).info(T0).certificate
    with pytest.raises(IntegrityError):
        r.station.connect_mechanism(
            ADDRESS, Mechanism.SIGNATURE, T0, esam_certificate=other_certificate
        )
    with pytest.raises(ConfigError):
        StationSecurity(MASTER).connect_mechanism(ADDRESS, Mechanism.SIGNATURE, T0)


def test_a_session_expires_and_ends_with_release_or_a_failed_connect_keeps_it() -> None:
    r = rig()
    answer = connect(r, Mechanism.SYMMETRIC)
    assert isinstance(answer, SecurityData)
    r.station.accept_connect(ADDRESS, answer)
    symmetric = r.station.connect_mechanism(ADDRESS, Mechanism.SYMMETRIC, T0)
    r.client.connect(dataclasses.replace(symmetric, signature=bytes(4)), T0)  # refused
    session_round_trip(r)  # the session survived the failed attempt
    late = r.station.wrap(ADDRESS, GET, session=True)
    with pytest.raises(SecurityError):
        r.client.open_request(late, T0 + 7201)
    assert r.client.info(T0).session_remaining == 0
    answer = connect(r, Mechanism.SYMMETRIC)
    assert isinstance(answer, SecurityData)
    r.station.accept_connect(ADDRESS, answer)
    r.client.release()
    with pytest.raises(SecurityError):
        r.client.open_request(r.station.wrap(ADDRESS, GET, session=True), T0)
    r.station.release(ADDRESS)
    with pytest.raises(SecurityError):
        r.station.wrap(ADDRESS, GET, session=True)


def test_without_a_station_certificate_the_signature_mechanism_is_refused() -> None:
    r = rig(station_certificate=None)
    assert connect(r, Mechanism.SIGNATURE) == ConnectResult.OTHER
    assert isinstance(connect(r, Mechanism.SYMMETRIC), SecurityData)


def test_the_sealed_state_round_trips_counters_wallet_and_keys() -> None:
    r = rig()
    r.client.open_request(r.station.wrap(ADDRESS, GET), T0)
    amount, protected = (item.value for item in r.station.top_up(ADDRESS, 777).value)
    r.client.top_up(amount, protected.sid, protected.mac, T0)
    blob = r.esam.to_bytes()
    for secret in (MASTER.for_meter(ADDRESS).keys[k] for k in MASTER.keys):
        assert secret not in blob
    restored = EsamClient(Esam.from_bytes(blob, DEVICE_KEY, random=seeded(b"again")))
    assert restored.info(T0) == r.client.info(T0)
    replay = r.station.wrap(ADDRESS, GET)
    assert restored.open_request(replay, T0) == GET
    with pytest.raises(SecurityError):  # the counter came back with the state
        restored.open_request(replay, T0)


def test_a_tampered_or_foreign_sealed_state_is_refused() -> None:
    blob = make_esam().to_bytes()
    for at in (0, 5, 17, len(blob) // 2, len(blob) - 1):
        altered = blob[:at] + bytes((blob[at] ^ 0x40,)) + blob[at + 1 :]
        with pytest.raises(IntegrityError):
            Esam.from_bytes(altered, DEVICE_KEY)
    with pytest.raises(IntegrityError):
        Esam.from_bytes(blob, bytes(16))  # another chip's device key
    for cut in (0, 10, len(blob) - 1):
        with pytest.raises(IntegrityError):
            Esam.from_bytes(blob[:cut], DEVICE_KEY)


def test_the_station_needs_master_keys_and_refuses_unknown_versions() -> None:
    with pytest.raises(ConfigError):
        StationSecurity([])
    station = StationSecurity(MasterKeys(1, MASTER.keys))
    with pytest.raises(ConfigError):
        station.meter_keys(ADDRESS, 9)
    certificate = station_certificate(CA_KEY, CA_KEY.public_key, now=T0)
    assert certificate.serial == 1
