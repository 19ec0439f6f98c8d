"""Software images of the management module: the format, the vendor's builder, and the checks
an image must pass before the meter installs it.

Theory of operation. The vendor signs each image with its SM2 key; the meter holds the
vendor's public key (provisioned at manufacture) and accepts an image only if it is well
formed, signed, signed by *that* key, unaltered, meant for the management module, and newer
than what it runs. The layout (big-endian; docs/firmware.md draws it too)::

    offset size  field
    0      4     magic "WGFW"
    4      1     format version = 1
    5      1     target module: 1 metering, 2 management, 3 expansion
    6      4     vendor id, 4 ASCII characters (as in the CONNECT factory version)
    10     2     version major
    12     2     version minor
    14     2     version patch
    16     4     body length N
    20     8     signer key id: the first 8 bytes of SM3(vendor public key, 04 || x || y)
    28     32    SM3 digest of the body
    60     64    SM2 signature r || s over bytes 0..59, ID 1234567812345678 (GB/T 35276);
                 64 zero bytes: unsigned
    124    N     body

The signature covers the header, and the header holds the body's digest, so one signature
check plus one hash protects every byte. The checks run in this order and the first failure
names the :class:`Refusal`: bad format, unsigned, wrong signer (the key id is not the
vendor's), bad signature (the header was altered or the signature forged), tampered body (the
digest does not match), wrong target (the metering module is legal metrology and cannot be
upgraded; the expansion module is not upgraded through this path), not newer. Unlike an
:class:`~wattguard.errors.IntegrityError`, a refusal here says which check failed: anyone can
check a public-key signature, so the reason reveals nothing an attacker could not compute,
and the station's operators need it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import NamedTuple

from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError, SecurityError
from wattguard.protocol.apdu.common import DAR

__all__ = [
    "FirmwareBuilder",
    "FirmwareImage",
    "FirmwareRefused",
    "Module",
    "Refusal",
    "Version",
    "key_id",
]

MAGIC = b"WGFW"
FORMAT_VERSION = 1
_SIGNED_PART = struct.Struct(">4sBB4sHHHI8s32s")
SIGNATURE_SIZE = 64
HEADER_SIZE = _SIGNED_PART.size + SIGNATURE_SIZE
MAX_BODY = 16 * 1024 * 1024
_UNSIGNED = bytes(SIGNATURE_SIZE)


class Module(enum.IntEnum):
    """The module an image is for."""

    METERING = 1
    MANAGEMENT = 2
    EXPANSION = 3


class Version(NamedTuple):
    """major.minor.patch, compared as a tuple."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        try:
            major, minor, patch = (int(part) for part in text.split("."))
        except ValueError:
            raise ConfigError(f"a version is major.minor.patch, not {text!r}") from None
        return cls(major, minor, patch).checked()

    def checked(self) -> Version:
        if not all(0 <= part <= 0xFFFF for part in self):
            raise ConfigError(f"version parts are 0..65535: {self}")
        return self

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class Refusal(enum.Enum):
    """Why an image was refused, and the DAR the meter answers with."""

    BAD_FORMAT = ("bad format", DAR.TYPE_MISMATCH)
    UNSIGNED = ("unsigned", DAR.SIGNATURE_ERROR)
    WRONG_SIGNER = ("signed by another key than the vendor's", DAR.SIGNATURE_ERROR)
    BAD_SIGNATURE = ("signature does not verify (header altered)", DAR.SIGNATURE_ERROR)
    TAMPERED = ("body does not match its signed digest (tampered)", DAR.SIGNATURE_ERROR)
    WRONG_VENDOR = ("another vendor's image", DAR.SIGNATURE_ERROR)
    WRONG_TARGET = ("not an image for the management module", DAR.READ_WRITE_DENIED)
    NOT_NEWER = ("version not newer than the installed one", DAR.OUT_OF_RANGE)

    @property
    def text(self) -> str:
        return self.value[0]

    @property
    def dar(self) -> DAR:
        return self.value[1]


class FirmwareRefused(SecurityError):
    """An image failed a check; ``reason`` says which, ``dar`` what to answer."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        super().__init__(f"firmware refused: {reason.text}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.dar = reason.dar
        self.detail = detail


def key_id(public_key: sm2.PublicKey) -> bytes:
    """The 8-byte signer key id of a vendor key."""
    return sm3.hash(public_key.to_bytes())[:8]


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """A decoded image; :meth:`from_bytes` checks it, :meth:`parse` only decodes."""

    target: Module
    vendor_id: str
    version: Version
    signer: bytes
    digest: bytes
    signature: bytes
    body: bytes

    @property
    def signed_part(self) -> bytes:
        return _SIGNED_PART.pack(
            MAGIC,
            FORMAT_VERSION,
            self.target,
            self.vendor_id.encode("ascii"),
            *self.version,
            len(self.body),
            self.signer,
            self.digest,
        )

    def to_bytes(self) -> bytes:
        return self.signed_part + self.signature + self.body

    @classmethod
    def parse(cls, data: bytes) -> FirmwareImage:
        """Decode without checking signature, digest, target or version (the unprotected
        meter does only this). Raises FirmwareRefused(BAD_FORMAT)."""
        data = bytes(data)
        if len(data) < HEADER_SIZE:
            raise FirmwareRefused(Refusal.BAD_FORMAT, f"{len(data)} bytes, header is {HEADER_SIZE}")
        magic, fmt, target, vendor, major, minor, patch, length, signer, digest = (
            _SIGNED_PART.unpack_from(data)
        )
        if magic != MAGIC or fmt != FORMAT_VERSION:
            raise FirmwareRefused(Refusal.BAD_FORMAT, "not a wattguard image (magic or format)")
        if length > MAX_BODY or len(data) != HEADER_SIZE + length:
            raise FirmwareRefused(Refusal.BAD_FORMAT, "body length does not match the header")
        try:
            module = Module(target)
            vendor_id = vendor.decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise FirmwareRefused(Refusal.BAD_FORMAT, "unknown target or vendor id") from None
        return cls(
            target=module,
            vendor_id=vendor_id,
            version=Version(major, minor, patch),
            signer=signer,
            digest=digest,
            signature=data[_SIGNED_PART.size : HEADER_SIZE],
            body=data[HEADER_SIZE:],
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        vendor_public_key: sm2.PublicKey,
        *,
        vendor_id: str | None = None,
        target: Module = Module.MANAGEMENT,
        installed: Version | None = None,
    ) -> FirmwareImage:
        """Decode and check an image (the order is in the module docstring)."""
        image = cls.parse(data)
        if image.signature == _UNSIGNED:
            raise FirmwareRefused(Refusal.UNSIGNED)
        if image.signer != key_id(vendor_public_key):
            raise FirmwareRefused(Refusal.WRONG_SIGNER, f"key id {image.signer.hex()}")
        try:
            vendor_public_key.verify(image.signed_part, image.signature)
        except SecurityError:
            raise FirmwareRefused(Refusal.BAD_SIGNATURE) from None
        if sm3.hash(image.body) != image.digest:
            raise FirmwareRefused(Refusal.TAMPERED)
        if vendor_id is not None and image.vendor_id != vendor_id:
            raise FirmwareRefused(Refusal.WRONG_VENDOR, image.vendor_id)
        if image.target != target:
            what = "legal metrology cannot be upgraded" if image.target == Module.METERING else ""
            raise FirmwareRefused(Refusal.WRONG_TARGET, f"{image.target.name} {what}".strip())
        if installed is not None and image.version <= installed:
            raise FirmwareRefused(Refusal.NOT_NEWER, f"{image.version} after {installed}")
        return image


class FirmwareBuilder:
    """The vendor's side: turns a body into a signed image."""

    def __init__(self, vendor_key: sm2.PrivateKey, vendor_id: str) -> None:
        encoded = vendor_id.encode("ascii", "replace")
        if len(encoded) != 4 or not vendor_id.isascii():
            raise ConfigError(f"a vendor id is 4 ASCII characters, not {vendor_id!r}")
        self.vendor_key = vendor_key
        self.vendor_id = vendor_id

    def build(
        self,
        body: bytes,
        version: Version | str,
        target: Module = Module.MANAGEMENT,
        *,
        sign: bool = True,
    ) -> bytes:
        """The image's bytes; ``sign=False`` leaves the signature empty (for tests and the
        attack harness: an unsigned image)."""
        if len(body) > MAX_BODY:
            raise ConfigError(f"an image body is at most {MAX_BODY} bytes")
        checked = Version.parse(version) if isinstance(version, str) else version.checked()
        image = FirmwareImage(
            target=target,
            vendor_id=self.vendor_id,
            version=checked,
            signer=key_id(self.vendor_key.public_key),
            digest=sm3.hash(body),
            signature=_UNSIGNED,
            body=bytes(body),
        )
        signature = self.vendor_key.sign(image.signed_part) if sign else _UNSIGNED
        return image.signed_part + signature + image.body
