"""The compact certificate a Bluetooth peer (handheld, phone, sensor, concentrator) presents to a
meter's Bluetooth service.

An X.509 certificate is too large for a meter's Bluetooth pairing and needs a parser the meter
does not otherwise have; the utility's CA signs this fixed layout instead (big-endian)::

    offset  size  field
    0       1     format version: 1, or 2 for a certificate bound to one meter
    1       8     serial number
    9       1     role (wattguard.meter.bluetooth.access.Role): 1 read-only, 2 maintenance,
                  3 customer (phone), 4 sensor, 5 concentrator
    10      4     valid from, POSIX seconds
    14      4     valid until, POSIX seconds (inclusive)
    18      65    the holder's SM2 public key, 04 || x || y
    version 2 only:
    83      6     the address of the one meter the holder may pair with
    89      2     the object (OI) a sensor reports under attribute 2; 0 for other roles
    then, at B = 83 (version 1) or 91 (version 2):
    B       1     L: length of the holder's id, 1..32
    B+1     L     holder id, ASCII
    B+1+L   64    the CA's SM2 signature r || s over bytes 0 .. B+L, ID 1234567812345678

:meth:`HandheldCertificate.check` verifies the CA's signature and the validity period; the
Bluetooth service checks revocation (a set of revoked serials) and the binding to its own
address itself.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass

from wattguard.crypto import sm2
from wattguard.errors import CertificateError, ConfigError, DecodeError, SecurityError
from wattguard.meter.bluetooth.access import Role
from wattguard.protocol.axdr import Reader

__all__ = ["CertificateRefused", "HandheldCertificate"]

FORMAT_VERSION = 1
BOUND_VERSION = 2
_FIXED = struct.Struct(">BQBII65s")
_BINDING = struct.Struct(">6sH")
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
    """The utility CA's compact certificate for a Bluetooth peer (layout in the module
    docstring): its serial, role, validity period, SM2 public key and id, and for a bound
    certificate the one ``meter`` it may pair with and the object ``scope`` a sensor reports,
    signed by the CA."""

    serial: int
    role: Role
    valid_from: int
    valid_until: int
    public_key: sm2.PublicKey
    handheld_id: str
    signature: bytes
    meter: bytes | None = None
    scope: int = 0

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
        meter: bytes | None = None,
        scope: int = 0,
    ) -> HandheldCertificate:
        """The CA's side: sign a certificate (bound to ``meter`` when one is given)."""
        if not (handheld_id.isascii() and 1 <= len(handheld_id) <= MAX_ID):
            raise ConfigError(f"a handheld id is 1..{MAX_ID} ASCII characters")
        if not (0 <= serial < 2**64 and 0 <= valid_from <= valid_until < 2**32):
            raise ConfigError("serial or validity out of range")
        if (meter is not None and len(meter) != 6) or not 0 <= scope < 2**16:
            raise ConfigError("a bound certificate names a 6-byte meter address and an OI")
        if scope and meter is None:
            raise ConfigError("an object scope needs a bound meter")
        unsigned = cls(
            serial, role, valid_from, valid_until, public_key, handheld_id, b"", meter, scope
        )
        signature = ca_key.sign(unsigned.signed_part)
        return dataclasses.replace(unsigned, signature=signature)

    @property
    def signed_part(self) -> bytes:
        identity = self.handheld_id.encode("ascii")
        fixed = _FIXED.pack(
            FORMAT_VERSION if self.meter is None else BOUND_VERSION,
            self.serial,
            self.role,
            self.valid_from,
            self.valid_until,
            self.public_key.to_bytes(),
        )
        if self.meter is not None:
            fixed += _BINDING.pack(self.meter, self.scope)
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
        if version not in (FORMAT_VERSION, BOUND_VERSION):
            raise DecodeError(f"certificate format {version}", offset=0)
        try:
            role_ = Role(role)
        except ValueError:
            raise DecodeError(f"unknown role {role}", offset=9) from None
        try:
            public_key = sm2.PublicKey.from_bytes(point)
        except SecurityError:
            raise DecodeError("public key is not a point on the curve", offset=18) from None
        meter, scope = None, 0
        if version == BOUND_VERSION:
            meter, scope = _BINDING.unpack(reader.take(_BINDING.size))
        at = reader.pos
        id_length = reader.u8()
        if not 1 <= id_length <= MAX_ID:
            raise DecodeError(f"handheld id of {id_length} bytes", offset=at)
        try:
            handheld_id = reader.take(id_length).decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("handheld id is not ASCII", offset=at + 1) from None
        signature = reader.take(SIGNATURE_SIZE)
        reader.finish()
        return cls(
            serial, role_, valid_from, valid_until, public_key, handheld_id, signature, meter, scope
        )

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
