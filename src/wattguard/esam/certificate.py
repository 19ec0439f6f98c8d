"""The compact certificate of the soft-ESAM profile: a subject, its SM2 public key and a
validity period, signed by the utility CA's SM2 key.

wattguard.crypto has no X.509, and an ESAM has little room, so the profile defines its own
certificate (docs/security.md), all integers big-endian::

    57 43 | format 01 | kind (1) | serial (4) | subject length (1) | subject |
    public key (65, 04 || x || y) | not before (4, POSIX s) | not after (4, POSIX s) |
    issuer (8: first 8 bytes of SM3 of the CA public key) | signature (64, r || s)

The signature is SM2 (GB/T 32918.2, distinguishing ID ``1234567812345678``) over every byte
before it. An ESAM's subject is its meter address; a station's is its name.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from wattguard.crypto import sm2, sm3
from wattguard.errors import DecodeError, IntegrityError, SecurityError

__all__ = ["Certificate", "CertificateKind", "issuer_id"]

_MAGIC = b"WC\x01"
_HEAD = struct.Struct(">3sBIB")  # magic+format, kind, serial, subject length
_TAIL = struct.Struct(">65sII8s64s")  # public key, not before, not after, issuer, signature
_PUBLIC_KEY_SIZE = 65
_ISSUER_SIZE = 8
_MAX_SUBJECT = 64


class CertificateKind(enum.IntEnum):
    """Whom a compact certificate is for: an ESAM or a master station."""

    ESAM = 1  # a meter's (or terminal's) secure element; subject = its address
    STATION = 2  # a master station (or its cryptographic device); subject = its name


def issuer_id(ca_public: sm2.PublicKey) -> bytes:
    """The 8 bytes that name a CA in the certificates it signs."""
    return sm3.hash(ca_public.to_bytes())[:_ISSUER_SIZE]


@dataclass(frozen=True, slots=True)
class Certificate:
    """The soft-ESAM profile's compact certificate (layout in the module docstring): a subject
    and its SM2 public key for a validity period, signed by the utility CA."""

    kind: CertificateKind
    serial: int
    subject: bytes
    public_key: bytes
    not_before: int
    not_after: int
    issuer: bytes
    signature: bytes

    def body(self) -> bytes:
        """The signed bytes: everything but the signature."""
        head = _HEAD.pack(_MAGIC, self.kind, self.serial, len(self.subject))
        tail = _TAIL.pack(self.public_key, self.not_before, self.not_after, self.issuer, b"")
        return head + self.subject + tail[: -sm2.SIGNATURE_SIZE]

    def to_bytes(self) -> bytes:
        return self.body() + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        if len(data) < _HEAD.size:
            raise DecodeError("certificate too short", offset=len(data))
        magic, kind, serial, length = _HEAD.unpack_from(data)
        if magic != _MAGIC:
            raise DecodeError("not a certificate of the wattguard profile", offset=0)
        if len(data) != _HEAD.size + length + _TAIL.size:
            raise DecodeError("certificate of the wrong length", offset=_HEAD.size)
        try:
            certificate_kind = CertificateKind(kind)
        except ValueError:
            raise DecodeError(f"unknown certificate kind {kind}", offset=3) from None
        subject = data[_HEAD.size : _HEAD.size + length]
        public, not_before, not_after, issuer, signature = _TAIL.unpack_from(
            data, _HEAD.size + length
        )
        return cls(
            certificate_kind, serial, subject, public, not_before, not_after, issuer, signature
        )

    @classmethod
    def issue(
        cls,
        ca_key: sm2.PrivateKey,
        kind: CertificateKind,
        serial: int,
        subject: bytes,
        public_key: sm2.PublicKey,
        not_before: int,
        not_after: int,
    ) -> Certificate:
        """Sign a certificate with the CA's key."""
        if len(subject) > _MAX_SUBJECT or not 0 <= serial <= 0xFFFFFFFF:
            raise ValueError("subject at most 64 bytes, serial 32 bits")
        unsigned = cls(
            kind,
            serial,
            bytes(subject),
            public_key.to_bytes(),
            not_before,
            not_after,
            issuer_id(ca_key.public_key),
            bytes(sm2.SIGNATURE_SIZE),
        )
        signature = ca_key.sign(unsigned.body())
        return cls(
            kind, serial, bytes(subject), public_key.to_bytes(), not_before, not_after,
            unsigned.issuer, signature,
        )  # fmt: skip

    def verify(self, ca_public: sm2.PublicKey, now: float) -> sm2.PublicKey:
        """The subject's public key, once the CA's signature and the validity period hold.

        A forged or altered certificate raises IntegrityError; one outside its validity
        period raises SecurityError.
        """
        if self.issuer != issuer_id(ca_public):
            raise IntegrityError()
        ca_public.verify(self.body(), self.signature)
        key = sm2.PublicKey.from_bytes(self.public_key)
        if not self.not_before <= now <= self.not_after:
            raise SecurityError("certificate outside its validity period")
        return key
