"""The published SM2 examples, on both backends and through the reference's internals."""

import pytest

from wattguard.crypto import _sm2_reference as ref
from wattguard.crypto import sm2
from wattguard.crypto.vectors import load
from wattguard.errors import IntegrityError

SIGN = load("sm2_sign")
ENCRYPT = load("sm2_encrypt")
EXCHANGE = load("sm2_exchange")
CURVE = ref.SM2_P256


@pytest.mark.parametrize("case", SIGN, ids=lambda c: c.source)
def test_signature_example(case, backend: str) -> None:
    key = sm2.PrivateKey.from_bytes(case.bytes("private_key"))
    assert key.public_key.to_bytes() == case.bytes("public_key")
    assert key.public_key.z_value(case.bytes("id")) == case.bytes("z")
    key.public_key.verify(case.bytes("message"), case.bytes("signature"), case.bytes("id"))
    with pytest.raises(IntegrityError):  # the same signature under another ID
        key.public_key.verify(case.bytes("message"), case.bytes("signature"), b"")
    # And a fresh signature (random k) verifies too.
    fresh = key.sign(case.bytes("message"), case.bytes("id"))
    key.public_key.verify(case.bytes("message"), fresh, case.bytes("id"))


@pytest.mark.parametrize("case", SIGN, ids=lambda c: c.source)
def test_reference_reproduces_the_signature_with_the_published_k(case) -> None:
    d = case.int("private_key")
    pub = ref.public_key(CURVE, d)
    z = ref.z_value(CURVE, case.bytes("id"), pub)
    assert z == case.bytes("z")
    from wattguard.crypto import sm3

    assert sm3.hash(z + case.bytes("message")) == case.bytes("e")
    r, s = ref.sign(CURVE, d, case.bytes("message"), case.bytes("id"), k=case.int("k"))
    assert r.to_bytes(32, "big") + s.to_bytes(32, "big") == case.bytes("signature")


@pytest.mark.parametrize("case", ENCRYPT, ids=lambda c: c.source)
def test_encryption_example(case, backend: str) -> None:
    key = sm2.PrivateKey.from_bytes(case.bytes("private_key"))
    assert key.decrypt(case.bytes("ciphertext")) == case.bytes("message")
    fresh = key.public_key.encrypt(case.bytes("message"))
    assert len(fresh) == len(case.bytes("message")) + 97
    assert key.decrypt(fresh) == case.bytes("message")


@pytest.mark.parametrize("case", ENCRYPT, ids=lambda c: c.source)
def test_reference_reproduces_the_ciphertext_with_the_published_k(case) -> None:
    pub = ref.decode_point(CURVE, case.bytes("public_key"))
    assert ref.encrypt(CURVE, pub, case.bytes("message"), k=case.int("k")) == case.bytes(
        "ciphertext"
    )


@pytest.mark.parametrize("case", EXCHANGE, ids=lambda c: c.source)
def test_key_exchange_example_with_confirmation(case, backend: str) -> None:
    a = sm2.PrivateKey.from_bytes(case.bytes("private_key_a"))
    b = sm2.PrivateKey.from_bytes(case.bytes("private_key_b"))
    assert a.public_key.to_bytes() == case.bytes("public_key_a")
    assert b.public_key.to_bytes() == case.bytes("public_key_b")
    ephemeral_a = sm2.PrivateKey.from_bytes(case.bytes("ephemeral_a"))
    ephemeral_b = sm2.PrivateKey.from_bytes(case.bytes("ephemeral_b"))
    length = case.int("key_length")
    kx_a = sm2.KeyExchange(
        a,
        b.public_key,
        initiator=True,
        id=case.bytes("id_a"),
        peer_id=case.bytes("id_b"),
        key_length=length,
        ephemeral_key=ephemeral_a,
    )
    kx_b = sm2.KeyExchange(
        b,
        a.public_key,
        initiator=False,
        id=case.bytes("id_b"),
        peer_id=case.bytes("id_a"),
        key_length=length,
        ephemeral_key=ephemeral_b,
    )
    assert kx_a.ephemeral_public_key.to_bytes() == case.bytes("ephemeral_public_a")
    assert kx_b.ephemeral_public_key.to_bytes() == case.bytes("ephemeral_public_b")
    # B answers A's R_A with R_B and S_B.
    assert kx_b.derive(kx_a.ephemeral_public_key) == case.bytes("key")
    assert kx_b.confirmation() == case.bytes("s_b")
    # A derives the same key, checks S_B and answers with S_A; B checks S_A.
    assert kx_a.derive(kx_b.ephemeral_public_key) == case.bytes("key")
    kx_a.check_confirmation(case.bytes("s_b"))
    assert kx_a.confirmation() == case.bytes("s_a")
    kx_b.check_confirmation(case.bytes("s_a"))
    with pytest.raises(IntegrityError):
        kx_b.check_confirmation(case.bytes("s_b"))
    with pytest.raises(IntegrityError):
        kx_a.check_confirmation(case.bytes("s_a"))
