"""SM3 hash (GB/T 32905-2016), HMAC-SM3 (RFC 2104), PBKDF2-HMAC-SM3 (RFC 8018) and the SM2
key derivation function.

Backed by ``cryptography`` (OpenSSL inside its wheel).
"""

from __future__ import annotations

import struct
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

from wattguard.errors import ConfigError

__all__ = ["DIGEST_SIZE", "Hash", "empty_context", "hash", "hmac", "kdf", "pbkdf2"]

DIGEST_SIZE = 32
_COUNTER = struct.Struct(">I")
_SM3 = hashes.SM3()
_EMPTY = hashes.Hash(_SM3)  # never updated: hash() copies it
# The KDF's 32-bit counter: GB/T 32918.4-2016 clause 5.4.3 limits klen to (2^32 - 1) * v bits.
_KDF_MAX = (2**32 - 1) * DIGEST_SIZE


def hash(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest of ``data``."""
    h = _EMPTY.copy()  # a copy of an unused context: cheaper than a new one
    h.update(data)
    return h.finalize()


def empty_context() -> Any:
    """The module's unused SM3 context (``cryptography``'s ``hashes.Hash``), for a caller that
    hashes many short inputs as :func:`hash` does: ``copy()`` it, then update and finalize the
    copy; the context itself must never see data."""
    return _EMPTY


class Hash:
    """An incremental SM3 hash, for data that arrives in pieces."""

    digest_size = DIGEST_SIZE
    block_size = 64

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(_SM3)
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def copy(self) -> Hash:
        clone = Hash.__new__(Hash)
        clone._h = self._h.copy()
        return clone

    def digest(self) -> bytes:
        """The digest so far; the object stays usable."""
        return self._h.copy().finalize()


def hmac(key: bytes, data: bytes) -> bytes:
    """Return HMAC-SM3 (RFC 2104 with SM3) of ``data`` under ``key``: 32 bytes."""
    h = _hmac.HMAC(key, _SM3)
    h.update(data)
    return h.finalize()


def pbkdf2(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2 (RFC 8018 clause 5.2) with HMAC-SM3: a key from a passphrase, slowed by
    ``iterations`` against guessing."""
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    if iterations < 1 or not 1 <= length <= 1024 or len(salt) < 8:
        raise ConfigError("PBKDF2 needs iterations >= 1, a length of 1..1024 and 8+ salt bytes")
    return PBKDF2HMAC(_SM3, length, salt, iterations).derive(password)


def kdf(z: bytes, length: int) -> bytes:
    """The key derivation function of GB/T 32918.4-2016 clause 5.4.3, ``length`` in bytes.

    ``K = SM3(Z || ct=1) || SM3(Z || ct=2) || ...`` truncated to ``length`` bytes, ``ct`` a 32-bit
    big-endian counter.
    """
    if length < 0 or length > _KDF_MAX:
        raise ConfigError(f"SM3 KDF length must be 0..{_KDF_MAX} bytes, not {length}")
    blocks = []
    for counter in range(1, -(-length // DIGEST_SIZE) + 1):
        h = hashes.Hash(_SM3)
        h.update(z)
        h.update(_COUNTER.pack(counter))
        blocks.append(h.finalize())
    return b"".join(blocks)[:length]
