"""SECURITY-Request (16) and SECURITY-Response (144): any APDU wrapped in plaintext + MAC or
ciphertext (+ MAC), with a random number or SID against replay.

::

    request:  10 | 00 plaintext / 01 ciphertext | len | APDU |
                   00 SID_MAC / 01 RN / 02 RN_MAC / 03 SID | verification
    response: 90 | 00 plaintext / 01 ciphertext / 02 DAR | len | APDU |
                   OPTIONAL: 00 MAC | verification

The codec only frames; computing and checking MACs and ciphertexts is the ESAM's and the
cryptographic device's work. Once opened, the inner APDU decodes with ``decode_apdu``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wattguard.protocol.apdu._schema import OCTETS, Structure, _Fn, f, optional, service
from wattguard.protocol.axdr import Reader
from wattguard.protocol.values import SID, SIDMAC

SECURITY_REQUEST = 16
SECURITY_RESPONSE = 144


class Protection(enum.IntEnum):
    """Whether the wrapped APDU travels as plaintext or as ciphertext."""

    PLAINTEXT = 0
    CIPHERTEXT = 1


class VerificationKind(enum.IntEnum):
    """How a SECURITY-Request proves itself fresh and genuine: SID_MAC, RN, RN_MAC or SID."""

    SID_MAC = 0
    RN = 1
    RN_MAC = 2
    SID = 3


@dataclass(frozen=True, slots=True)
class SecurityPayload:
    """The wrapped APDU, in plaintext or ciphertext; in a response it may be a DAR instead."""

    protection: Protection
    data: bytes = b""
    dar: int | None = None

    def to_bytes(self) -> bytes:
        if self.dar is not None:
            return bytes((2, self.dar))
        return bytes((self.protection,)) + OCTETS.write(self.data)

    @classmethod
    def read(cls, reader: Reader, allow_dar: bool = False) -> SecurityPayload:
        start = reader.pos
        choice = reader.u8()
        if choice == 2 and allow_dar:
            return cls(Protection.PLAINTEXT, dar=reader.u8())
        if choice > 1:
            raise reader.error(f"unknown security data choice {choice}", start)
        return cls(Protection(choice), OCTETS.read(reader))


#: The verification choices by their byte (a lookup, not an enum call, per request read).
_KINDS = {kind.value: kind for kind in VerificationKind}


@dataclass(frozen=True, slots=True)
class Verification:
    """What proves a request fresh and genuine: SID_MAC, RN, RN + MAC, or SID."""

    kind: VerificationKind
    sid: SID | None = None
    random: bytes = b""
    mac: bytes = b""

    def to_bytes(self) -> bytes:
        kind = bytes((self.kind,))
        if self.kind == VerificationKind.SID_MAC:
            assert self.sid is not None
            return kind + SIDMAC(self.sid, self.mac).to_bytes()
        if self.kind == VerificationKind.RN:
            return kind + OCTETS.write(self.random)
        if self.kind == VerificationKind.RN_MAC:
            return kind + OCTETS.write(self.random) + OCTETS.write(self.mac)
        assert self.sid is not None
        return kind + self.sid.to_bytes()

    @classmethod
    def read(cls, reader: Reader) -> Verification:
        start = reader.pos
        kind = _KINDS.get(reader.u8())
        if kind is None:
            raise reader.error("unknown security verification choice", start)
        if kind == VerificationKind.SID_MAC:
            sid_mac = SIDMAC.read(reader)
            return cls(kind, sid=sid_mac.sid, mac=sid_mac.mac)
        if kind == VerificationKind.RN:
            return cls(kind, random=OCTETS.read(reader))
        if kind == VerificationKind.RN_MAC:
            return cls(kind, random=OCTETS.read(reader), mac=OCTETS.read(reader))
        return cls(kind, sid=SID.read(reader))


def _read_mac(reader: Reader) -> bytes:
    start = reader.pos
    if reader.u8() != 0:
        raise reader.error("the only response verification is MAC (choice 0)", start)
    mac: bytes = OCTETS.read(reader)
    return mac


MAC_ = _Fn(_read_mac, lambda mac: b"\x00" + OCTETS.write(mac), ("mac",))
REQUEST_PAYLOAD = _Fn(SecurityPayload.read, lambda v: v.to_bytes(), ("request_payload",))
RESPONSE_PAYLOAD = _Fn(
    lambda r: SecurityPayload.read(r, allow_dar=True), lambda v: v.to_bytes(), ("response_payload",)
)
VERIFICATION = _Fn(Verification.read, lambda v: v.to_bytes(), ("value", Verification))


@service(SECURITY_REQUEST)
class SecurityRequest(Structure):
    """SECURITY-Request: an APDU wrapped as plaintext or ciphertext, with its verification."""

    payload: SecurityPayload = f(REQUEST_PAYLOAD)
    verification: Verification = f(VERIFICATION)


@service(SECURITY_RESPONSE)
class SecurityResponse(Structure):
    """SECURITY-Response: the answer wrapped as plaintext or ciphertext (or a DAR), with an
    optional MAC."""

    payload: SecurityPayload = f(RESPONSE_PAYLOAD)
    mac: bytes | None = f(optional(MAC_), default=None)
