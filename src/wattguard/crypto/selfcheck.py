"""A power-on self-check of the crypto layer: every published example that runs quickly,
against the active backends. ``wattguard selfcheck`` prints it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from wattguard.crypto import _sm2_reference, sm2, sm3, sm4
from wattguard.crypto.vectors import load
from wattguard.errors import IntegrityError, WattguardError

__all__ = ["CheckResult", "self_check"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one self-check: which algorithm, whether it passed, what it checked (or
    why it failed), and how many seconds it took."""

    name: str
    ok: bool
    detail: str
    seconds: float


def _sm3() -> str:
    for case in load("sm3"):
        if sm3.hash(case.bytes("message")) != case.bytes("digest"):
            raise AssertionError(case.source)
    return f"{len(load('sm3'))} GB/T 32905 examples"


def _sm4() -> str:
    cases = [c for c in load("sm4") if c.int("iterations") == 1]
    for case in cases:
        if sm4.ecb_encrypt(case.bytes("key"), case.bytes("plaintext")) != case.bytes("ciphertext"):
            raise AssertionError(case.source)
    for case in load("sm4_gcm"):
        sealed = sm4.gcm_seal(
            case.bytes("key"), case.bytes("nonce"), case.bytes("plaintext"), case.bytes("aad")
        )
        if sealed != case.bytes("ciphertext") + case.bytes("tag"):
            raise AssertionError(case.source)
    return "GB/T 32907 example, RFC 8998 SM4-GCM"


def _sm2() -> str:
    for case in load("sm2_sign"):
        public = sm2.PublicKey.from_bytes(case.bytes("public_key"))
        public.verify(case.bytes("message"), case.bytes("signature"), case.bytes("id"))
        key = sm2.PrivateKey.from_bytes(case.bytes("private_key"))
        signature = key.sign(b"wattguard self-check")
        key.public_key.verify(b"wattguard self-check", signature)
        try:
            key.public_key.verify(b"wattguard self-check!", signature)
        except IntegrityError:
            pass
        else:
            raise AssertionError("a signature over another message verified")
    for case in load("sm2_encrypt"):
        key = sm2.PrivateKey.from_bytes(case.bytes("private_key"))
        if key.decrypt(case.bytes("ciphertext")) != case.bytes("message"):
            raise AssertionError(case.source)
    for case in load("sm2_exchange"):
        a = sm2.PrivateKey.from_bytes(case.bytes("private_key_a"))
        b = sm2.PrivateKey.from_bytes(case.bytes("private_key_b"))
        kx_a = sm2.KeyExchange(
            a,
            b.public_key,
            initiator=True,
            ephemeral_key=sm2.PrivateKey.from_bytes(case.bytes("ephemeral_a")),
        )
        kx_b = sm2.KeyExchange(
            b,
            a.public_key,
            initiator=False,
            ephemeral_key=sm2.PrivateKey.from_bytes(case.bytes("ephemeral_b")),
        )
        if kx_b.derive(kx_a.ephemeral_public_key) != case.bytes("key"):
            raise AssertionError(case.source)
        kx_a.derive(kx_b.ephemeral_public_key)
        kx_a.check_confirmation(kx_b.confirmation())
        kx_b.check_confirmation(kx_a.confirmation())
    return f"GB/T 32918.5 examples on the {sm2.backend_name()} backend"


def _sm2_reference_check() -> str:
    curve = _sm2_reference.SM2_P256
    for case in load("sm2_sign"):
        r, s = _sm2_reference.sign(
            curve, case.int("private_key"), case.bytes("message"), case.bytes("id"), k=case.int("k")
        )
        if r.to_bytes(32, "big") + s.to_bytes(32, "big") != case.bytes("signature"):
            raise AssertionError(case.source)
    return "GB/T 32918.5 signature reproduced with the published k"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("SM3", _sm3),
    ("SM4", _sm4),
    ("SM2", _sm2),
    ("SM2 reference", _sm2_reference_check),
]


def self_check() -> list[CheckResult]:
    """Run every check; a failure is reported, not raised."""
    results = []
    for name, check in CHECKS:
        start = time.perf_counter()
        try:
            detail, ok = check(), True
        except (AssertionError, WattguardError) as exc:
            detail, ok = f"FAILED: {type(exc).__name__} {exc}", False
        results.append(CheckResult(name, ok, detail, time.perf_counter() - start))
    return results
