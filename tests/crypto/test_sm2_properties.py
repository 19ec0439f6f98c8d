"""The OpenSSL binding and the pure-Python reference agree; tampering is always refused."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattguard.crypto import _openssl, _sm2_reference, sm2
from wattguard.errors import ConfigError, IntegrityError

N = _sm2_reference.SM2_P256.n
REFERENCE = _sm2_reference.ReferenceBackend()
scalars = st.integers(min_value=1, max_value=N - 2)
ids = st.binary(max_size=40)
messages = st.binary(max_size=200)


def _pair(backend: Any, d: int) -> tuple[Any, Any, bytes]:
    pub = backend.public_from_private(d)
    return backend.load_private(d, pub), backend.load_public(pub), pub


@settings(max_examples=40)
@given(d=scalars, message=messages, user_id=ids)
def test_signatures_cross_verify(
    openssl_backend: Any, d: int, message: bytes, user_id: bytes
) -> None:
    priv_o, pub_o, encoded = _pair(openssl_backend, d)
    priv_r, pub_r, encoded_r = _pair(REFERENCE, d)
    assert encoded == encoded_r
    r, s = openssl_backend.sign(priv_o, message, user_id)
    REFERENCE.verify(pub_r, message, r, s, user_id)
    r, s = REFERENCE.sign(priv_r, message, user_id)
    openssl_backend.verify(pub_o, message, r, s, user_id)


@settings(max_examples=30)
@given(d=scalars, message=messages.filter(bool))
def test_ciphertexts_cross_decrypt(openssl_backend: Any, d: int, message: bytes) -> None:
    priv_o, pub_o, _ = _pair(openssl_backend, d)
    priv_r, pub_r, _ = _pair(REFERENCE, d)
    assert REFERENCE.decrypt(priv_r, openssl_backend.encrypt(pub_o, message)) == message
    assert openssl_backend.decrypt(priv_o, REFERENCE.encrypt(pub_r, message)) == message


@settings(max_examples=30)
@given(t=scalars, xbar=scalars, a=scalars, b=scalars)
def test_exchange_points_agree(openssl_backend: Any, t: int, xbar: int, a: int, b: int) -> None:
    p = REFERENCE.public_from_private(a)
    r = REFERENCE.public_from_private(b)
    assert openssl_backend.exchange_point(t, p, xbar, r) == REFERENCE.exchange_point(t, p, xbar, r)


# The backend fixture is chosen once per test; it holds no state between examples.
ONCE = [HealthCheck.function_scoped_fixture]


@settings(max_examples=25, suppress_health_check=ONCE)
@given(message=messages, user_id=ids, data=st.data())
def test_tampered_signatures_are_refused(
    backend: str, message: bytes, user_id: bytes, data: st.DataObject
) -> None:
    key = sm2.PrivateKey.generate()
    signature = key.sign(message, user_id)
    key.public_key.verify(message, signature, user_id)
    index = data.draw(st.integers(min_value=0, max_value=63))
    tampered = bytearray(signature)
    tampered[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(IntegrityError):
        key.public_key.verify(message, bytes(tampered), user_id)
    with pytest.raises(IntegrityError):
        key.public_key.verify(message + b"\x00", signature, user_id)
    with pytest.raises(IntegrityError):
        sm2.PrivateKey.generate().public_key.verify(message, signature, user_id)


@settings(max_examples=25, suppress_health_check=ONCE)
@given(message=messages.filter(bool), data=st.data())
def test_tampered_ciphertexts_are_refused(
    backend: str, message: bytes, data: st.DataObject
) -> None:
    key = sm2.PrivateKey.generate()
    ciphertext = key.public_key.encrypt(message)
    index = data.draw(st.integers(min_value=0, max_value=len(ciphertext) - 1))
    tampered = bytearray(ciphertext)
    tampered[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(IntegrityError):
        key.decrypt(bytes(tampered))
    with pytest.raises(IntegrityError):
        key.decrypt(ciphertext[:-1])
    with pytest.raises(IntegrityError):
        sm2.PrivateKey.generate().decrypt(ciphertext)


def test_all_failures_look_the_same(backend: str) -> None:
    key = sm2.PrivateKey.generate()
    signature = key.sign(b"m")
    ciphertext = key.public_key.encrypt(b"m")
    failures = []
    for attempt in (
        lambda: key.public_key.verify(b"x", signature),
        lambda: key.public_key.verify(b"m", bytes(64)),
        lambda: key.public_key.verify(b"m", b"\xff" * 64),
        lambda: key.decrypt(ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])),
        lambda: key.decrypt(b"\x04" + bytes(64) + ciphertext[65:]),  # C1 off the curve
        lambda: sm2.PublicKey.from_bytes(b"\x04" + bytes(64)),
    ):
        with pytest.raises(IntegrityError) as refused:
            attempt()
        failures.append((type(refused.value), str(refused.value)))
    assert len(set(failures)) == 1


def test_key_exchange_between_fresh_parties_with_other_ids(backend: str) -> None:
    a, b = sm2.PrivateKey.generate(), sm2.PrivateKey.generate()
    kx_a = sm2.KeyExchange(
        a, b.public_key, initiator=True, id=b"terminal-7", peer_id=b"fep-1", key_length=32
    )
    kx_b = sm2.KeyExchange(
        b, a.public_key, initiator=False, id=b"fep-1", peer_id=b"terminal-7", key_length=32
    )
    key_b = kx_b.derive(kx_a.ephemeral_public_key)
    assert kx_a.derive(kx_b.ephemeral_public_key) == key_b and len(key_b) == 32
    kx_a.check_confirmation(kx_b.confirmation())
    kx_b.check_confirmation(kx_a.confirmation())
    with pytest.raises(ConfigError, match="already"):
        kx_a.derive(kx_b.ephemeral_public_key)


def test_key_exchange_with_an_impostor_fails_confirmation(backend: str) -> None:
    # B believes it talks to A, but an impostor (without A's static key) runs A's side.
    a, b, impostor = (sm2.PrivateKey.generate() for _ in range(3))
    kx_impostor = sm2.KeyExchange(impostor, b.public_key, initiator=True)
    kx_b = sm2.KeyExchange(b, a.public_key, initiator=False)
    kx_b.derive(kx_impostor.ephemeral_public_key)
    kx_impostor.derive(kx_b.ephemeral_public_key)
    with pytest.raises(IntegrityError):
        kx_impostor.check_confirmation(kx_b.confirmation())
    with pytest.raises(IntegrityError):
        kx_b.check_confirmation(kx_impostor.confirmation())
    with pytest.raises(ConfigError, match="derive"):
        sm2.KeyExchange(a, b.public_key, initiator=True).confirmation()


def test_bad_parameters_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="empty"):
        sm2.PrivateKey.generate().public_key.encrypt(b"")
    with pytest.raises(ConfigError, match="32 bytes"):
        sm2.PrivateKey.from_bytes(bytes(31))
    with pytest.raises(ConfigError, match=r"\[1, n-2\]"):
        sm2.PrivateKey.from_bytes(bytes(32))
    with pytest.raises(ConfigError, match="at most 8191"):
        sm2.PrivateKey.generate().sign(b"m", id=bytes(8192))
    with pytest.raises(ConfigError, match="at least one byte"):
        key = sm2.PrivateKey.generate()
        sm2.KeyExchange(key, key.public_key, initiator=True, key_length=0)


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sm2.backend_name() == "openssl"
    monkeypatch.setenv("WATTGUARD_SM2_BACKEND", "reference")
    assert sm2._select_backend().name == "reference"
    monkeypatch.setenv("WATTGUARD_SM2_BACKEND", "gmssl")
    with pytest.raises(ConfigError, match="WATTGUARD_SM2_BACKEND"):
        sm2._select_backend()


def test_fallback_to_the_reference_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> None:
        raise _openssl.BackendUnavailable("no OpenSSL 3 libcrypto found")

    monkeypatch.setattr(_openssl, "OpenSSLBackend", unavailable)
    monkeypatch.delenv("WATTGUARD_SM2_BACKEND", raising=False)
    with pytest.warns(RuntimeWarning, match="pure-Python reference"):
        assert sm2._select_backend().name == "reference"
    monkeypatch.setenv("WATTGUARD_SM2_BACKEND", "openssl")
    with warnings.catch_warnings(), pytest.raises(_openssl.BackendUnavailable):
        warnings.simplefilter("error")
        sm2._select_backend()
