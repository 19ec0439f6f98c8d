"""Byte formats: keys, signatures, ciphertexts. Malformed input is an IntegrityError, never
anything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, IntegrityError

KEY = sm2.PrivateKey.generate()


def test_key_round_trips() -> None:
    assert sm2.PrivateKey.from_bytes(KEY.to_bytes()).public_key == KEY.public_key
    assert sm2.PrivateKey.from_der(KEY.to_der()).to_bytes() == KEY.to_bytes()
    assert sm2.PrivateKey.from_pem(KEY.to_pem()).to_bytes() == KEY.to_bytes()
    assert sm2.PublicKey.from_der(KEY.public_key.to_der()) == KEY.public_key
    assert sm2.PublicKey.from_pem(KEY.public_key.to_pem()) == KEY.public_key
    assert KEY.to_pem().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert KEY.to_bytes().hex() not in repr(KEY)


def test_a_private_key_whose_public_key_does_not_match_is_refused() -> None:
    from wattguard.crypto import _sm2_formats

    other = sm2.PrivateKey.generate().public_key.to_bytes()
    forged = _sm2_formats.private_key_to_pkcs8(int.from_bytes(KEY.to_bytes(), "big"), other)
    with pytest.raises(IntegrityError):
        sm2.PrivateKey.from_der(forged)


def test_pem_labels_are_checked() -> None:
    with pytest.raises(IntegrityError):
        sm2.PublicKey.from_pem(KEY.to_pem())
    with pytest.raises(IntegrityError):
        sm2.PrivateKey.from_pem(KEY.public_key.to_pem())
    with pytest.raises(IntegrityError):
        sm2.PrivateKey.from_pem(b"\xff\xfe not PEM")


@given(st.binary(min_size=64, max_size=64))
def test_signature_der_round_trip(signature: bytes) -> None:
    assert sm2.signature_from_der(sm2.signature_to_der(signature)) == signature


@given(st.binary(min_size=1, max_size=80))
def test_ciphertext_conversions_round_trip(c2: bytes) -> None:
    c1 = KEY.public_key.to_bytes()
    c3 = bytes(range(32))
    c1c3c2 = c1 + c3 + c2
    assert sm2.c1c3c2_to_c1c2c3(c1c3c2) == c1 + c2 + c3
    assert sm2.c1c2c3_to_c1c3c2(c1 + c2 + c3) == c1c3c2
    assert sm2.ciphertext_from_der(sm2.ciphertext_to_der(c1c3c2)) == c1c3c2


def test_old_order_ciphertext_decrypts_after_conversion() -> None:
    ciphertext = KEY.public_key.encrypt(b"2010 order")
    old = sm2.c1c3c2_to_c1c2c3(ciphertext)
    assert KEY.decrypt(sm2.c1c2c3_to_c1c3c2(old)) == b"2010 order"


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_integrity_errors(garbage: bytes) -> None:
    for parse in (
        sm2.signature_from_der,
        sm2.ciphertext_from_der,
        sm2.PrivateKey.from_der,
        sm2.PublicKey.from_der,
        sm2.PublicKey.from_bytes,
        sm2.PrivateKey.from_pem,
        sm2.c1c2c3_to_c1c3c2,
    ):
        with contextlib.suppress(IntegrityError, ConfigError):
            parse(garbage)


@given(st.data())
def test_mangled_der_keys_are_refused_cleanly(data: st.DataObject) -> None:
    der = bytearray(KEY.to_der())
    index = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
    der[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        loaded = sm2.PrivateKey.from_der(bytes(der))
    except (IntegrityError, ConfigError):
        return
    # A flip that still parses (a bit inside the scalar with a matching key is impossible,
    # so only harmless bytes) must give back the very same key.
    assert loaded.to_bytes() == KEY.to_bytes()


def test_non_minimal_der_is_refused() -> None:
    good = sm2.signature_to_der(bytes(range(1, 65)))
    with pytest.raises(IntegrityError):
        sm2.signature_from_der(good + b"\x00")
    padded_integer = b"\x30\x46\x02\x21\x00\x01" + bytes(31) + good[36:]
    with pytest.raises(IntegrityError):
        sm2.signature_from_der(padded_integer)
