"""The SM2 key exchange on OpenSSL keeps its secret scalars out of Python's variable-time
integer arithmetic (issue #13, "check also"), and agrees with the reference."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattguard.crypto import _sm2_reference, sm2
from wattguard.errors import IntegrityError

N = _sm2_reference.SM2_P256.n
REFERENCE = _sm2_reference.ReferenceBackend()
scalars = st.integers(min_value=1, max_value=N - 2)
halves = st.integers(min_value=1 << 127, max_value=(1 << 128) - 1)  # x̄ lies in [2^127, 2^128)


class SecretScalar(int):
    """A scalar that fails the test if Python arithmetic touches it (comparisons and
    conversion to bytes are what the code may do with it)."""

    def _refuse(self, *_: object) -> NoReturn:
        raise AssertionError("Python integer arithmetic on a secret scalar")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = __pow__ = __rpow__ = _refuse
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = _refuse
    __rshift__ = __divmod__ = __rdivmod__ = __neg__ = _refuse


def test_derive_on_openssl_does_no_python_arithmetic_on_secrets(
    openssl_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sm2, "_BACKEND", openssl_backend)
    plain_a, plain_b = sm2.PrivateKey.generate(), sm2.PrivateKey.generate()

    def guarded(key: sm2.PrivateKey) -> sm2.PrivateKey:
        return sm2.PrivateKey(SecretScalar(int.from_bytes(key.to_bytes(), "big")))

    a, b = guarded(plain_a), guarded(plain_b)
    ephemeral_a, ephemeral_b = (
        guarded(sm2.PrivateKey.generate()),
        guarded(sm2.PrivateKey.generate()),
    )
    kx_a = sm2.KeyExchange(a, b.public_key, initiator=True, ephemeral_key=ephemeral_a)
    kx_b = sm2.KeyExchange(b, a.public_key, initiator=False, ephemeral_key=ephemeral_b)
    key_b = kx_b.derive(kx_a.ephemeral_public_key)
    key_a = kx_a.derive(kx_b.ephemeral_public_key)
    assert key_a == key_b and len(key_a) == 16
    kx_a.check_confirmation(kx_b.confirmation())
    kx_b.check_confirmation(kx_a.confirmation())
    # the same exchange on the reference backend (Python integers) agrees
    monkeypatch.setattr(sm2, "_BACKEND", REFERENCE)
    plain = sm2.KeyExchange(
        plain_b, plain_a.public_key, initiator=False,
        ephemeral_key=sm2.PrivateKey(int(ephemeral_b._d)),
    )  # fmt: skip
    assert plain.derive(kx_a.ephemeral_public_key) == key_b


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d=scalars, r=scalars, own=halves, peer=halves, a=scalars, b=scalars)
def test_agreement_matches_the_reference(
    openssl_backend: Any, d: int, r: int, own: int, peer: int, a: int, b: int
) -> None:
    p, q = REFERENCE.public_from_private(a), REFERENCE.public_from_private(b)
    assert openssl_backend.agree(d, r, own, p, peer, q) == REFERENCE.agree(d, r, own, p, peer, q)


def test_a_zero_t_is_refused_on_both_backends(openssl_backend: Any) -> None:
    """t = d + x̄·r = 0 mod n gives the point at infinity: refused, as the standard says."""
    own, r = 1 << 127, 5
    d = (-own * r) % N
    p, q = REFERENCE.public_from_private(7), REFERENCE.public_from_private(9)
    for backend in (openssl_backend, REFERENCE):
        with pytest.raises(IntegrityError):
            backend.agree(d, r, own, p, 1 << 127, q)
