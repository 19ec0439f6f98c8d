"""The key schedule and record protection of the WAN secure channel.

Theory of operation. The SM2 key exchange (GB/T 32918.3-2016) gives both ends the same 32-byte
key K, bound to both static keys, both identities and both ephemeral points. Everything else
comes from K through HKDF (RFC 5869) with HMAC-SM3, as RFC 8998 does for TLS 1.3 with SM
suites, labelled the way RFC 8446 clause 7.1 labels TLS 1.3's derivations::

    PRK            = HKDF-Extract(salt = client nonce || server nonce, K)
    H              = SM3(ClientHello || ServerHello up to and including its certificates)
    c/s finished   = Expand-Label(PRK, "c finished" / "s finished", H, 32)
    verify data    = HMAC-SM3(c/s finished, H)
    c/s secret[0]  = Expand-Label(PRK, "c traffic" / "s traffic", H, 32)
    secret[n+1]    = Expand-Label(secret[n], "key update", "", 32)
    key, iv        = Expand-Label(secret[n], "key", "", 16), Expand-Label(secret[n], "iv", "", 12)

    Expand-Label(secret, label, context, length)
                   = HKDF-Expand(secret, length (2) | len | "wattguard wan " + label
                                                    | len | context, length)

A record under sequence number ``seq`` is sealed with SM4-GCM under ``key``, nonce
``iv XOR seq`` (the sequence as a 12-byte big-endian number, RFC 8446 clause 5.3) and the
record header as additional data, so neither the header nor the order can be changed.

A direction changes key after ``KeyLimits.records`` records or ``KeyLimits.bytes`` bytes
under one key, whichever comes first: the sender sends a KEY_UPDATE record (the last under
the old key) and moves to ``secret[n+1]``; the receiver does the same on reading it, and
refuses a peer that goes past the limits without updating.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

from wattguard.crypto import sm3, sm4
from wattguard.errors import ConfigError
from wattguard.network._wan_wire import MAX_PLAINTEXT

__all__ = ["KeyLimits", "KeySchedule", "RecordProtection"]

SECRET_SIZE = 32
IV_SIZE = 12
_LABEL_PREFIX = b"wattguard wan "
_LENGTH = struct.Struct(">H")


def hkdf_extract(salt: bytes, key_material: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 clause 2.2) with HMAC-SM3."""
    return sm3.hmac(salt, key_material)


def hkdf_expand(secret: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 clause 2.3) with HMAC-SM3."""
    if not 0 < length <= 255 * sm3.DIGEST_SIZE:
        raise ConfigError("HKDF-Expand gives 1 to 8160 bytes")
    blocks, block = [], b""
    for counter in range(1, -(-length // sm3.DIGEST_SIZE) + 1):
        block = sm3.hmac(secret, block + info + bytes([counter]))
        blocks.append(block)
    return b"".join(blocks)[:length]


def expand_label(secret: bytes, label: str, context: bytes, length: int) -> bytes:
    full = _LABEL_PREFIX + label.encode("ascii")
    info = _LENGTH.pack(length) + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length)


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """How much one key may protect in one direction before it is replaced (see
    ``docs/wan.md``: far inside the GCM limits of NIST SP 800-38D and RFC 8446 clause 5.5)."""

    records: int = 1 << 20
    bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if self.records < 2 or self.bytes < MAX_PLAINTEXT:
            raise ConfigError(f"a key must be allowed at least 2 records and {MAX_PLAINTEXT} bytes")


class KeySchedule:
    """The secrets of one handshake, from the exchanged key, the nonces and the transcript."""

    def __init__(
        self, shared: bytes, client_nonce: bytes, server_nonce: bytes, transcript: bytes
    ) -> None:
        self.transcript = sm3.hash(transcript)
        prk = hkdf_extract(client_nonce + server_nonce, shared)
        h = self.transcript
        self.client_secret = expand_label(prk, "c traffic", h, SECRET_SIZE)
        self.server_secret = expand_label(prk, "s traffic", h, SECRET_SIZE)
        self._client_finished = expand_label(prk, "c finished", h, SECRET_SIZE)
        self._server_finished = expand_label(prk, "s finished", h, SECRET_SIZE)

    def client_verify(self) -> bytes:
        return sm3.hmac(self._client_finished, self.transcript)

    def server_verify(self) -> bytes:
        return sm3.hmac(self._server_finished, self.transcript)

    @staticmethod
    def matches(expected: bytes, received: bytes) -> bool:
        return hmac.compare_digest(expected, received)


class RecordProtection:
    """SM4-GCM for one direction: the current key and IV, and how much they have protected."""

    def __init__(self, secret: bytes, limits: KeyLimits) -> None:
        self.limits = limits
        self.generation = 0
        self._install(secret)

    def _install(self, secret: bytes) -> None:
        self._secret = secret
        self._key = expand_label(secret, "key", b"", sm4.KEY_SIZE)
        self._iv = int.from_bytes(expand_label(secret, "iv", b"", IV_SIZE), "big")
        self.records = 0
        self.bytes = 0

    def _nonce(self, sequence: int) -> bytes:
        return (self._iv ^ sequence).to_bytes(IV_SIZE, "big")

    def seal(self, header: bytes, sequence: int, plaintext: bytes) -> bytes:
        self.records += 1
        self.bytes += len(plaintext)
        return sm4.gcm_seal(self._key, self._nonce(sequence), plaintext, header)

    def open(self, header: bytes, sequence: int, body: bytes) -> bytes:
        """Check and decrypt; IntegrityError when the tag fails."""
        plaintext = sm4.gcm_open(self._key, self._nonce(sequence), body, header)
        self.records += 1
        self.bytes += len(plaintext)
        return plaintext

    def update_due(self, size: int) -> bool:
        """Whether the sender must update before protecting ``size`` more bytes (the update
        record itself must still fit under this key)."""
        return self.records + 2 > self.limits.records or self.bytes + size > self.limits.bytes

    def over_limit(self) -> bool:
        return self.records > self.limits.records or self.bytes > self.limits.bytes

    def update(self) -> None:
        """Move to the next key (secret[n+1])."""
        self._install(expand_label(self._secret, "key update", b"", SECRET_SIZE))
        self.generation += 1
