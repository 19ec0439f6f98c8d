"""The profile's pure functions with fixed test keys: diversification, MACs, padding and
encryption, the SID and RN layouts, the session-key KDF."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import sm3, sm4
from wattguard.errors import ConfigError, DecodeError, IntegrityError
from wattguard.esam import profile as p
from wattguard.testing import ADDRESS, OTHER
from wattguard.testing.esam import MASTER

KEY = bytes(range(16))


def test_diversification_is_sm4_of_the_address_and_its_complement() -> None:
    master = MASTER.keys[p.KeyId.MAC]
    d = b"\x00\x00" + ADDRESS
    block = d + bytes(b ^ 0xFF for b in d)
    assert block.hex() == "0000000000000001ffffffffffffffFE".lower()
    assert p.diversify(master, ADDRESS) == sm4.ecb_encrypt(master, block)
    assert p.diversify(master, ADDRESS) != p.diversify(master, OTHER)
    keys = MASTER.for_meter(ADDRESS)
    assert len({keys[k] for k in p.KeyId}) == len(p.KeyId)  # one key per use
    with pytest.raises(ConfigError):
        p.diversify(master, b"\x01")


def test_the_mac_is_four_bytes_of_cmac_over_label_binding_and_data() -> None:
    tag = p.mac(KEY, p.Label.REQUEST, b"bind", b"data")
    assert tag == sm4.cmac(KEY, b"\x01\x04bind" + b"data")[:4]
    p.check_mac(KEY, p.Label.REQUEST, b"bind", b"data", tag)
    for label, binding, data, key in [
        (p.Label.RESPONSE, b"bind", b"data", KEY),  # another use
        (p.Label.REQUEST, b"binc", b"data", KEY),  # another counter
        (p.Label.REQUEST, b"bind", b"dat4", KEY),  # altered data
        (p.Label.REQUEST, b"bin", b"ddata", KEY),  # the boundary moved
        (p.Label.REQUEST, b"bind", b"data", bytes(16)),  # another key
    ]:
        with pytest.raises(IntegrityError):
            p.check_mac(key, label, binding, data, tag)


@given(st.binary(max_size=100))
def test_iso_9797_padding_round_trips(data: bytes) -> None:
    padded = p.pad(data)
    assert len(padded) % 16 == 0 and len(padded) > len(data)
    assert padded[len(data)] == 0x80
    assert p.unpad(padded) == data


@pytest.mark.parametrize(
    "bad", [b"", bytes(16), b"\x80" + bytes(16) + bytes(15), b"\x01" * 16, b"\x80" + bytes(14)]
)
def test_bad_padding_is_an_integrity_error(bad: bytes) -> None:
    with pytest.raises(IntegrityError):
        p.unpad(bad)


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=40))
def test_encryption_round_trips_and_depends_on_direction_and_binding(
    data: bytes, binding: bytes
) -> None:
    sealed = p.encrypt(KEY, p.Direction.REQUEST, binding, data)
    assert len(sealed) == len(p.pad(data))
    assert p.decrypt(KEY, p.Direction.REQUEST, binding, sealed) == data
    assert sealed != p.encrypt(KEY, p.Direction.RESPONSE, binding, data)
    assert sealed != p.encrypt(KEY, p.Direction.REQUEST, binding + b"!", data)


def test_the_iv_is_the_encrypted_hash_of_direction_and_binding() -> None:
    data, binding = b"read energy", b"\x57\x01\x01\x01" + bytes(10)
    seed = sm3.hash(b"IV" + bytes((1, len(binding))) + binding)[:16]
    iv = sm4.ecb_encrypt(KEY, seed)
    assert p.encrypt(KEY, p.Direction.REQUEST, binding, data) == sm4.cbc_encrypt(
        KEY, iv, p.pad(data)
    )


def test_decrypting_garbage_is_an_integrity_error() -> None:
    for garbage in (b"", b"\x00" * 15, b"\x00" * 17):
        with pytest.raises(IntegrityError):
            p.decrypt(KEY, p.Direction.REQUEST, b"x", garbage)


def test_sid_fields_lay_out_as_documented() -> None:
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.METER, 1, 258, ADDRESS)
    assert sid.ident == 0x57010101
    assert sid.attach.hex() == "00000102" + ADDRESS.hex()
    assert p.SidFields.parse(sid.ident, sid.attach) == sid
    for ident, attach in [
        (0x58010101, sid.attach),  # not our profile
        (0x57990101, sid.attach),  # unknown operation
        (0x57010901, sid.attach),  # unknown keyset
        (sid.ident, sid.attach[:-1]),
    ]:
        with pytest.raises(DecodeError):
            p.SidFields.parse(ident, attach)


def test_structured_random_lays_out_as_documented() -> None:
    rn = p.StructuredRandom(p.Keyset.SESSION, 3, 7, b"\xaa" * 8)
    assert rn.to_bytes().hex() == "5702030000000007" + "aa" * 8
    assert p.StructuredRandom.from_bytes(rn.to_bytes()) == rn
    for bad in (rn.to_bytes()[:-1], b"\x00" + rn.to_bytes()[1:], rn.to_bytes()[:3] + b"\x01"
                + rn.to_bytes()[4:]):  # fmt: skip
        with pytest.raises(DecodeError):
            p.StructuredRandom.from_bytes(bad)


def test_session_keys_are_the_sm3_kdf_of_address_and_both_randoms() -> None:
    client, server = b"\x01" * 16, b"\x02" * 16
    keys = p.session_keys(client, server, ADDRESS)
    z = b"wattguard-session" + ADDRESS + client + server
    assert keys.enc + keys.mac == sm3.kdf(z, 32)
    assert p.session_keys(client, server, OTHER) != keys
    assert "\\x" not in repr(keys) and keys.enc.hex() not in repr(keys)


def test_key_sets_serialise_and_refuse_incomplete_sets() -> None:
    keys = MASTER.for_meter(ADDRESS)
    assert p.MeterKeys.from_bytes(keys.to_bytes()) == keys
    assert "version=1" in repr(keys) and keys[p.KeyId.MAC].hex() not in repr(keys)
    raw = keys.to_bytes()
    for bad in (raw[:-1], raw[:2], bytes((1, 5)) + raw[2:19] * 5, raw[:2] + b"\x09" + raw[3:]):
        with pytest.raises(DecodeError):
            p.MeterKeys.from_bytes(bad)
    with pytest.raises(ConfigError):
        p.MeterKeys(1, {p.KeyId.MAC: bytes(16)})


def test_symmetric_connect_pieces_refuse_a_wrong_mac_or_key() -> None:
    auth = MASTER.for_meter(ADDRESS)[p.KeyId.AUTH]
    ciphertext, tag = p.symmetric_offer(auth, ADDRESS, b"\x05" * 16)
    assert p.symmetric_open(auth, ADDRESS, ciphertext, tag) == b"\x05" * 16
    with pytest.raises(IntegrityError):
        p.symmetric_open(auth, OTHER, ciphertext, tag)
    with pytest.raises(IntegrityError):
        p.symmetric_open(MASTER.for_meter(OTHER)[p.KeyId.AUTH], ADDRESS, ciphertext, tag)


@given(
    st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16),
    st.binary(max_size=40), st.binary(max_size=70), st.booleans(), st.integers(0, 4),
)  # fmt: skip
def test_open_answer_equals_checking_the_mac_then_decrypting(
    enc: bytes, mac_key: bytes, binding: bytes, plain: bytes, ciphertext: bool, flip: int
) -> None:
    protection = int(ciphertext)
    data = p.encrypt(enc, p.Direction.RESPONSE, binding, plain) if ciphertext else plain
    tag = p.mac(mac_key, p.Label.RESPONSE, binding, bytes((protection,)) + data)
    if flip:  # a forged tag: both ways refuse it
        tag = bytes([tag[0] ^ flip]) + tag[1:]
        with pytest.raises(IntegrityError):
            p.check_mac(mac_key, p.Label.RESPONSE, binding, bytes((protection,)) + data, tag)
        with pytest.raises(IntegrityError):
            p.open_answer(enc, mac_key, binding, protection, data, tag)
        return
    p.check_mac(mac_key, p.Label.RESPONSE, binding, bytes((protection,)) + data, tag)
    expected = p.decrypt(enc, p.Direction.RESPONSE, binding, data) if ciphertext else data
    assert p.open_answer(enc, mac_key, binding, protection, data, tag) == expected == plain
    if ciphertext:  # the MAC is over the ciphertext: the same bytes as plaintext do not open
        with pytest.raises(IntegrityError):
            p.open_answer(enc, mac_key, binding, 0, data, tag)
