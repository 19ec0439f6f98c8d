"""The compact certificate a handheld presents to a meter's Bluetooth service.

An X.509 certificate is too large for a meter's Bluetooth pairing and needs a parser the meter
does not otherwise have; the utility's CA signs this fixed layout instead (big-endian)::

    offset  size  field
    0       1     format version = 1
    1       8     serial number
    9       1     role: 1 read-only, 2 maintenance (wattguard.meter.bluetooth.access.Role)
    10      4     valid from, POSIX seconds
    14      4     valid until, POSIX seconds (inclusive)
    18      65    the handheld's SM2 public key, 04 || x || y
    83      1     L: length of the handheld id, 1..32
    84      L     handheld id, ASCII
    84+L    64    the CA's SM2 signature r || s over bytes 0 .. 83+L, ID 1234567812345678

:meth:`HandheldCertificate.check` verifies the CA's signature and the validity period; the
Bluetooth service checks revocation (a set of revoked serials) itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wattguard.crypto import sm2
from wattguard.errors import CertificateError, ConfigError, DecodeError, SecurityError
from wattguard.meter.bluetooth.access import Role
from wattguard.protocol.axdr import Reader

__all__ = ["CertificateRefused", "HandheldCertificate"]

FORMAT_VERSION = 1
_FIXED = struct.Struct(">BQBII65s")
SIGNATURE_SIZE = 64
MAX_ID = 32


class CertificateRefused(CertificateError):
    """A certificate that is not the CA's, not valid now, or revoked; ``reason`` says which
    (for the meter's log; the handheld is only told that pairing failed)."""

    def __init__(self, reason: str) -> None:
        super().__init__("certificate refused")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HandheldCertificate:
    """The utility CA's compact certificate for a Bluetooth handheld (layout in the module
    docstring): its serial, role, validity period, SM2 public key and id, signed by the CA."""

    serial: int
    role: Role
    valid_from: int
    valid_until: int
    public_key: sm2.PublicKey
    handheld_id: str
    signature: bytes

    @classmethod
    def issue(
        cls,
        ca_key: sm2.PrivateKey,
        *,
        serial: int,
        handheld_id: str,
        role: Role,
        public_key: sm2.PublicKey,
        valid_from: int,
        valid_until: int,
    ) -> HandheldCertificate:
        """The CA's side: sign a certificate."""
        if not (handheld_id.isascii() and 1 <= len(handheld_id) <= MAX_ID):
            raise ConfigError(f"a handheld id is 1..{MAX_ID} ASCII characters")
        if not (0 <= serial < 2**64 and 0 <= valid_from <= valid_until < 2**32):
            raise ConfigError("serial or validity out of range")
        unsigned = cls(serial, role, valid_from, valid_until, public_key, handheld_id, b"")
        return cls(
            serial,
            role,
            valid_from,
            valid_until,
            public_key,
            handheld_id,
            ca_key.sign(unsigned.signed_part),
        )

    @property
    def signed_part(self) -> bytes:
        identity = self.handheld_id.encode("ascii")
        fixed = _FIXED.pack(
            FORMAT_VERSION,
            self.serial,
            self.role,
            self.valid_from,
            self.valid_until,
            self.public_key.to_bytes(),
        )
        return fixed + bytes([len(identity)]) + identity

    def to_bytes(self) -> bytes:
        return self.signed_part + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> HandheldCertificate:
        """Decode (no checks of signature or validity); malformed bytes raise DecodeError."""
        reader = Reader(bytes(data))
        version, serial, role, valid_from, valid_until, point = _FIXED.unpack(
            reader.take(_FIXED.size)
        )
        if version != FORMAT_VERSION:
            raise DecodeError(f"certificate format {version}", offset=0)
        try:
            role_ = Role(role)
        except ValueError:
            raise DecodeError(f"unknown role {role}", offset=9) from None
        try:
            public_key = sm2.PublicKey.from_bytes(point)
        except SecurityError:
            raise DecodeError("public key is not a point on the curve", offset=18) from None
        id_length = reader.u8()
        if not 1 <= id_length <= MAX_ID:
            raise DecodeError(f"handheld id of {id_length} bytes", offset=83)
        try:
            handheld_id = reader.take(id_length).decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("handheld id is not ASCII", offset=84) from None
        signature = reader.take(SIGNATURE_SIZE)
        reader.finish()
        return cls(serial, role_, valid_from, valid_until, public_key, handheld_id, signature)

    def check(self, ca_public_key: sm2.PublicKey, now: float) -> None:
        """Raise CertificateRefused unless the CA signed it and it is valid at ``now``."""
        try:
            ca_public_key.verify(self.signed_part, self.signature)
        except SecurityError:
            raise CertificateRefused("not signed by the utility CA") from None
        if now < self.valid_from:
            raise CertificateRefused("not valid yet")
        if now > self.valid_until:
            raise CertificateRefused("expired")
