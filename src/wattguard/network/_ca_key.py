"""The CA's private key encrypted at rest under its own passphrase (issue #14).

``ca.key`` is the one file that lets its holder issue terminal certificates and sign CRLs. A
site keeps it offline; sealed, a copy of it is useless without the passphrase too. The
sealed file is a PEM block ``WATTGUARD ENCRYPTED CA KEY`` whose body is::

    magic "WGCK" | format (1) | PBKDF2 iterations (4, big-endian) | salt (16) | nonce (12)
    | SM4-GCM(key = PBKDF2-HMAC-SM3(passphrase, salt, iterations, 16), the key's PEM,
              associated data = the 37 header bytes)

the same construction as the cryptographic device's vault (``cipher/vault.py``), whose layer
this module may not import. A wrong passphrase and a damaged file are one refusal, on purpose.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable

from wattguard.crypto import sm3, sm4
from wattguard.errors import ConfigError, IntegrityError

__all__ = ["is_sealed", "open_key", "seal_key"]

_LABEL = b"WATTGUARD ENCRYPTED CA KEY"
_BEGIN = b"-----BEGIN " + _LABEL + b"-----"
_END = b"-----END " + _LABEL + b"-----"
_HEAD = struct.Struct(">4sBI16s12s")
_MAGIC = b"WGCK"
_FORMAT = 1
#: PBKDF2 iterations for a new sealed key (the vault's count).
ITERATIONS = 200_000


def _kek(passphrase: str, salt: bytes, iterations: int) -> bytes:
    if not passphrase:
        raise ConfigError("the CA key needs a passphrase; an empty one protects nothing")
    return sm3.pbkdf2(passphrase.encode(), salt, iterations, 16)


def seal_key(
    pem: bytes, passphrase: str, random: Callable[[int], bytes], iterations: int = ITERATIONS
) -> bytes:
    """The sealed file's bytes for the key ``pem`` under ``passphrase``; ``random`` draws the
    salt and the nonce."""
    head = _HEAD.pack(_MAGIC, _FORMAT, iterations, random(16), random(12))
    _, _, _, salt, nonce = _HEAD.unpack(head)
    body = head + sm4.gcm_seal(_kek(passphrase, salt, iterations), nonce, pem, aad=head)
    lines = [base64.b64encode(body[i : i + 48]) for i in range(0, len(body), 48)]
    return b"\n".join([_BEGIN, *lines, _END]) + b"\n"


def is_sealed(data: bytes) -> bool:
    """Whether a ``ca.key`` file's bytes are sealed (else: a plain PEM key)."""
    return data.lstrip().startswith(_BEGIN)


def open_key(data: bytes, passphrase: str | None, where: str) -> bytes:
    """The key's PEM from the sealed file ``data`` (read from ``where``); ConfigError saying
    what to do when there is no passphrase, or it is wrong, or the file is damaged."""
    if passphrase is None:
        raise ConfigError(
            f"{where} is encrypted: give its passphrase in WATTGUARD_CA_PASSPHRASE (or type it)"
        )
    try:
        inner = data.strip().removeprefix(_BEGIN).removesuffix(_END)
        body = base64.b64decode(b"".join(inner.split()), validate=True)
        magic, version, iterations, salt, nonce = _HEAD.unpack_from(body)
    except (ValueError, struct.error):
        raise ConfigError(f"{where} is not a sealed CA key") from None
    if magic != _MAGIC or version != _FORMAT or not 1 <= iterations <= 10_000_000:
        raise ConfigError(f"{where} is not a sealed CA key (format {version})")
    head = body[: _HEAD.size]
    try:
        return sm4.gcm_open(_kek(passphrase, salt, iterations), nonce, body[_HEAD.size :], head)
    except IntegrityError:
        raise ConfigError(
            f"the passphrase of {where} is wrong, or the file is damaged: give the one it was "
            "sealed with (WATTGUARD_CA_PASSPHRASE)"
        ) from None
