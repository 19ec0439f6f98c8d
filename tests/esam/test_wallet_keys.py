"""The wallet (top-up with MAC, replays and gaps refused, no deduction below zero), key
update (the old keys are refused afterwards) and certificate update."""

from __future__ import annotations

import pytest

from wattguard.crypto import sm2, sm3
from wattguard.errors import (
    CertificateError,
    CounterError,
    DecodeError,
    KeyVersionError,
    MacError,
    WalletError,
)
from wattguard.esam import profile as p
from wattguard.esam.certificate import Certificate, CertificateKind
from wattguard.esam.chip import WALLET_LIMIT
from wattguard.esam.command import Sw
from wattguard.esam.provisioning import station_certificate
from wattguard.events import EventKind
from wattguard.protocol import SID, SIDMAC, Data
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    Verification,
    VerificationKind,
)
from wattguard.testing import ADDRESS, OTHER, T0
from wattguard.testing.esam import CA_KEY, MASTER, STATION_KEY, Rig, rig

GET = bytes.fromhex("0501010010020000")


def parts(parameter: Data) -> tuple[int | bytes, SIDMAC]:
    first, second = parameter.value
    return first.value, second.value


def top_up(r: Rig, parameter: Data) -> tuple[int, int]:
    amount, protected = parts(parameter)
    assert isinstance(amount, int)
    return r.client.top_up(amount, protected.sid, protected.mac, T0)


def test_a_top_up_with_its_mac_credits_the_wallet() -> None:
    r = rig()
    assert r.client.balance() == 0
    assert top_up(r, r.station.top_up(ADDRESS, 5000)) == (5000, 1)
    assert top_up(r, r.station.top_up(ADDRESS, 250)) == (5250, 2)
    assert r.client.balance() == 5250 and r.client.info(T0).top_ups == 2


def test_a_replayed_top_up_is_refused_and_credits_nothing() -> None:
    r = rig()
    parameter = r.station.top_up(ADDRESS, 5000)
    top_up(r, parameter)
    with pytest.raises(CounterError) as caught:
        top_up(r, parameter)
    assert caught.value.sw == Sw.REPLAY
    assert r.client.balance() == 5000
    assert r.events.events[-1].kind == EventKind.REPLAY


def test_a_top_up_that_skips_a_count_is_refused() -> None:
    r = rig()
    r.station.top_up(ADDRESS, 100)  # built, never delivered
    with pytest.raises(CounterError) as caught:
        top_up(r, r.station.top_up(ADDRESS, 200))
    assert caught.value.sw == Sw.OUT_OF_SEQUENCE and r.client.balance() == 0


def test_a_top_up_with_an_altered_amount_or_another_meters_mac_is_refused() -> None:
    r = rig()
    _, protected = parts(r.station.top_up(ADDRESS, 100))
    with pytest.raises(MacError):
        r.client.top_up(1_000_000, protected.sid, protected.mac, T0)
    r.station.register(OTHER, key_version=1)
    _, theirs = parts(r.station.top_up(OTHER, 100))
    with pytest.raises(MacError):
        r.client.top_up(100, theirs.sid, theirs.mac, T0)
    forged_key = MASTER.for_meter(OTHER)[p.KeyId.WALLET]  # an opened meter's wallet key
    sid = p.SidFields.parse(protected.sid.ident, protected.sid.additional)
    forged = p.mac(forged_key, p.Label.TOP_UP, sid.binding, (1_000_000).to_bytes(4, "big"))
    with pytest.raises(MacError):
        r.client.top_up(1_000_000, protected.sid, forged, T0)
    assert r.client.balance() == 0
    assert len(r.events.of_kind(EventKind.BAD_MAC)) == 3


def test_the_wallet_limit_holds() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, WALLET_LIMIT))
    with pytest.raises(WalletError) as caught:
        top_up(r, r.station.top_up(ADDRESS, 1))
    assert caught.value.sw == Sw.WALLET_LIMIT


def test_deduction_below_zero_is_refused_and_changes_nothing() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, 300))
    assert r.client.deduct(120) == 180
    with pytest.raises(WalletError) as caught:
        r.client.deduct(181)
    assert caught.value.sw == Sw.WALLET_INSUFFICIENT
    assert r.client.balance() == 180
    assert r.client.deduct(180) == 0
    with pytest.raises(ValueError):
        r.client.deduct(-1)


def key_update(r: Rig, parameter: Data) -> int:
    ciphertext, protected = parts(parameter)
    assert isinstance(ciphertext, bytes)
    return r.client.key_update(ciphertext, protected.sid, protected.mac, T0)


def test_after_a_key_update_the_old_keys_are_refused_and_the_new_ones_work() -> None:
    r = rig()
    old = r.station.wrap(ADDRESS, GET)
    parameter = r.station.key_update(ADDRESS, 2)
    assert MASTER.for_meter(ADDRESS)[p.KeyId.MAC] not in parts(parameter)[0]  # wrapped
    assert key_update(r, parameter) == 2
    r.station.key_updated(ADDRESS, 2)
    assert r.client.info(T0).key_version == 2
    with pytest.raises(KeyVersionError):  # names version 1
        r.client.open_request(old, T0)
    # the old keys, under the new version's name
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.METER, 2, 99, ADDRESS)
    old_mac = MASTER.for_meter(ADDRESS)[p.KeyId.MAC]
    stale = SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, GET),
        Verification(
            VerificationKind.SID_MAC,
            sid=SID(sid.ident, sid.attach),
            mac=p.mac(old_mac, p.Label.REQUEST, sid.binding, b"\x00" + GET),
        ),
    )
    with pytest.raises(MacError):
        r.client.open_request(stale, T0)
    assert r.client.open_request(r.station.wrap(ADDRESS, GET), T0) == GET
    assert [e.kind for e in r.events.events] == [EventKind.KEY, EventKind.BAD_MAC]


def test_a_replayed_or_tampered_key_update_is_refused() -> None:
    r = rig()
    parameter = r.station.key_update(ADDRESS, 2)
    ciphertext, protected = parts(parameter)
    assert isinstance(ciphertext, bytes)
    with pytest.raises(MacError):
        r.client.key_update(ciphertext[:-1] + b"\x00", protected.sid, protected.mac, T0)
    key_update(r, parameter)
    with pytest.raises(KeyVersionError):  # made under version 1, which is gone
        key_update(r, parameter)
    assert r.client.info(T0).key_version == 2


def test_a_key_update_that_is_not_newer_is_refused() -> None:
    r = rig()
    r.station.add_master_keys(p.MasterKeys(1, MASTER.keys))
    with pytest.raises(KeyVersionError):
        key_update(r, r.station.key_update(ADDRESS, 1))


def test_a_certificate_update_installs_a_newer_station_certificate_only() -> None:
    r = rig()
    new_key = sm2.PrivateKey.from_bytes(sm3.hash(b"new station key"))
    newer = station_certificate(CA_KEY, new_key.public_key, serial=2, now=T0)
    parameter = r.station.certificate_update(ADDRESS, newer)
    raw, sid = (item.value for item in parameter.value)
    assert r.client.certificate_update(raw, sid, T0) == 2
    assert r.client.info(T0).station_certificate == newer.to_bytes()
    with pytest.raises(CounterError):  # the same again, or the old one back
        r.client.certificate_update(raw, sid, T0)
    older = station_certificate(CA_KEY, STATION_KEY.public_key, serial=1, now=T0)
    raw, sid = (item.value for item in r.station.certificate_update(ADDRESS, older).value)
    with pytest.raises(CounterError):
        r.client.certificate_update(raw, sid, T0)


def test_a_certificate_not_signed_by_the_ca_or_expired_is_refused() -> None:
    r = rig()
    rogue_ca = sm2.PrivateKey.from_bytes(sm3.hash(b"rogue CA"))
    rogue = station_certificate(rogue_ca, rogue_ca.public_key, serial=5, now=T0)
    expired = station_certificate(CA_KEY, STATION_KEY.public_key, serial=6, now=T0 - 10, validity=5)
    tampered = Certificate.from_bytes(
        station_certificate(CA_KEY, STATION_KEY.public_key, serial=7, now=T0).to_bytes()
    )
    tampered = Certificate(
        tampered.kind, tampered.serial, b"evil station", tampered.public_key,
        tampered.not_before, tampered.not_after, tampered.issuer, tampered.signature,
    )  # fmt: skip
    for certificate in (rogue, expired, tampered):
        raw, sid = (item.value for item in r.station.certificate_update(ADDRESS, certificate).value)
        with pytest.raises(CertificateError):
            r.client.certificate_update(raw, sid, T0)
    assert len(r.events.of_kind(EventKind.KEY)) == 3


def test_the_esam_certificate_can_be_renewed_for_its_own_key_only() -> None:
    r = rig()
    current = Certificate.from_bytes(r.client.info(T0).certificate)
    own = sm2.PublicKey.from_bytes(current.public_key)
    renewed = Certificate.issue(
        CA_KEY, CertificateKind.ESAM, 2, ADDRESS, own, int(T0), int(T0) + 10**8
    )
    raw, sid = (item.value for item in r.station.certificate_update(ADDRESS, renewed).value)
    assert r.client.certificate_update(raw, sid, T0) == 2
    stranger = Certificate.issue(
        CA_KEY, CertificateKind.ESAM, 3, ADDRESS, STATION_KEY.public_key, int(T0), int(T0) + 99
    )
    raw, sid = (item.value for item in r.station.certificate_update(ADDRESS, stranger).value)
    with pytest.raises(CertificateError):
        r.client.certificate_update(raw, sid, T0)


def test_a_certificate_round_trips_and_refuses_bad_bytes() -> None:
    certificate = station_certificate(CA_KEY, STATION_KEY.public_key, now=T0)
    assert Certificate.from_bytes(certificate.to_bytes()) == certificate
    assert certificate.verify(CA_KEY.public_key, T0) == STATION_KEY.public_key
    raw = certificate.to_bytes()
    for bad in (raw[:-1], b"XX" + raw[2:], raw[:3] + b"\x09" + raw[4:], b""):
        with pytest.raises(DecodeError):
            Certificate.from_bytes(bad)
