"""Wire formats of the WAN secure channel: records, handshake messages and alerts.

Every byte on the connection belongs to a record::

    type (1) | sequence (8, big-endian) | length (2, big-endian) | body (length bytes)

Before keys are in use the body is the message itself; afterwards it is SM4-GCM ciphertext
followed by the 16-byte tag, with the 11-byte header as additional data. The messages::

    Hello    type (1: 01 client, 02 server) | version (1) = 01 | flags (1, bit 0: protected)
             | nonce (32) | ephemeral point R (65, 04||x||y; only when protected)
             | count (1) | count x ( length (2) | certificate DER )
             | S_B (32) | verify data (32)          (server hello, protected only)
    Finished 03 | S_A (32) | verify data (32)      (the two fields only when protected)
    Alert    code (1) | length (1) | reason (UTF-8, at most 255 bytes)
    KeyUpdate  (empty body: the sender's next records use its next key)

The choices and the reasons for them are in ``docs/wan.md``. This module only encodes and
decodes: a body that does not decode raises :class:`~wattguard.errors.DecodeError` with the
offset where decoding stopped.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from wattguard.crypto import sm4
from wattguard.errors import DecodeError, RemoteProtocolError

__all__ = [
    "MAX_PLAINTEXT",
    "Alert",
    "AlertCode",
    "Finished",
    "HandshakeType",
    "Hello",
    "Record",
    "RecordOverflowError",
    "RecordType",
    "UnsupportedVersionError",
    "parse_handshake",
    "split_records",
]

VERSION = 1
HEADER = struct.Struct(">BQH")
MAX_PLAINTEXT = 16_384  # the largest message or application fragment in one record
MAX_BODY = MAX_PLAINTEXT + sm4.TAG_SIZE
NONCE_SIZE = 32
POINT_SIZE = 65
HASH_SIZE = 32
MAX_CERTIFICATES = 4
_FLAG_PROTECTED = 0x01
_CERT_LENGTH = struct.Struct(">H")


class RecordType(enum.IntEnum):
    """The type byte of a record; alert, handshake and application data carry TLS's content type
    numbers (RFC 8446 clause 5.1), key update is this channel's own."""

    ALERT = 0x15
    HANDSHAKE = 0x16
    APPLICATION = 0x17
    KEY_UPDATE = 0x18


class HandshakeType(enum.IntEnum):
    """The first byte of a handshake record's body: which handshake message it is."""

    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    FINISHED = 3


class AlertCode(enum.IntEnum):
    """Why a channel closed. Numbers follow TLS (RFC 8446 clause 6) where the meaning is the
    same; 120 and up are this channel's own."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    NO_CERTIFICATE = 41
    BAD_CERTIFICATE = 42
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    REPLAYED_RECORD = 120
    MISSING_RECORD = 121
    TRUNCATED = 122


class RecordOverflowError(DecodeError):
    """A record header announces more than a record may carry."""


class UnsupportedVersionError(RemoteProtocolError):
    """The peer speaks another version of the channel."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record as it travels (layout in the module docstring): the type, the sender's sequence
    number and the body, plaintext or SM4-GCM ciphertext with its tag."""

    type: RecordType
    sequence: int
    body: bytes

    def header(self) -> bytes:
        return HEADER.pack(self.type, self.sequence, len(self.body))

    def to_bytes(self) -> bytes:
        return self.header() + self.body


def read_header(data: bytes | bytearray, offset: int) -> tuple[RecordType, int, int]:
    """(type, sequence, body length) of the header at ``offset``; checks type and limit."""
    kind, sequence, length = HEADER.unpack_from(data, offset)
    try:
        record_type = RecordType(kind)
    except ValueError:
        raise DecodeError(f"unknown record type 0x{kind:02x}", offset=offset) from None
    if length > MAX_BODY:
        raise RecordOverflowError(f"a record of {length} bytes is too long", offset=offset + 9)
    return record_type, sequence, length


def split_records(data: bytes) -> tuple[list[Record], bytes]:
    """Cut a captured byte stream into records (for eavesdroppers, tests and the attack
    harness); returns the records and any incomplete tail."""
    records, offset = [], 0
    while len(data) - offset >= HEADER.size:
        kind, sequence, length = read_header(data, offset)
        end = offset + HEADER.size + length
        if end > len(data):
            break
        records.append(Record(kind, sequence, bytes(data[offset + HEADER.size : end])))
        offset = end
    return records, bytes(data[offset:])


class _Cursor:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.offset, self.what = data, 0, what

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise DecodeError(f"{self.what} is cut short", offset=self.offset)
        piece = self.data[self.offset : self.offset + count]
        self.offset += count
        return piece

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise DecodeError(f"{self.what} has trailing bytes", offset=self.offset)


@dataclass(frozen=True, slots=True)
class Hello:
    """ClientHello or ServerHello. ``core()`` is the part the transcript hash covers."""

    kind: HandshakeType
    protected: bool
    nonce: bytes
    ephemeral: bytes
    certificates: tuple[bytes, ...]
    confirmation: bytes = b""
    verify_data: bytes = b""
    version: int = VERSION

    def core(self) -> bytes:
        flags = _FLAG_PROTECTED if self.protected else 0
        parts = [bytes([self.kind, self.version, flags]), self.nonce, self.ephemeral]
        parts.append(bytes([len(self.certificates)]))
        for der in self.certificates:
            parts += [_CERT_LENGTH.pack(len(der)), der]
        return b"".join(parts)

    def to_bytes(self) -> bytes:
        return self.core() + self.confirmation + self.verify_data

    @classmethod
    def from_bytes(cls, data: bytes) -> Hello:
        cursor = _Cursor(data, "hello")
        kind, version, flags = cursor.take(3)
        if kind not in (HandshakeType.CLIENT_HELLO, HandshakeType.SERVER_HELLO):
            raise DecodeError("not a hello", offset=0)
        if version != VERSION:
            raise UnsupportedVersionError(f"channel version {version} is not supported")
        if flags & ~_FLAG_PROTECTED:
            raise DecodeError(f"unknown hello flags 0x{flags:02x}", offset=2)
        protected = bool(flags & _FLAG_PROTECTED)
        nonce = cursor.take(NONCE_SIZE)
        ephemeral = cursor.take(POINT_SIZE) if protected else b""
        (count,) = cursor.take(1)
        if count > MAX_CERTIFICATES:
            raise DecodeError(f"{count} certificates are too many", offset=cursor.offset - 1)
        certificates = []
        for _ in range(count):
            (length,) = _CERT_LENGTH.unpack(cursor.take(2))
            certificates.append(cursor.take(length))
        confirmation = verify_data = b""
        if protected and kind == HandshakeType.SERVER_HELLO:
            confirmation, verify_data = cursor.take(HASH_SIZE), cursor.take(HASH_SIZE)
        cursor.finish()
        return cls(
            HandshakeType(kind),
            protected,
            nonce,
            ephemeral,
            tuple(certificates),
            confirmation,
            verify_data,
            version,
        )


@dataclass(frozen=True, slots=True)
class Finished:
    """The terminal's (client's) last handshake message: its key confirmation S_A and verify data,
    both empty on an unprotected channel."""

    confirmation: bytes = b""
    verify_data: bytes = b""

    def to_bytes(self) -> bytes:
        return bytes([HandshakeType.FINISHED]) + self.confirmation + self.verify_data

    @classmethod
    def from_bytes(cls, data: bytes) -> Finished:
        if data[:1] != bytes([HandshakeType.FINISHED]):
            raise DecodeError("not a finished message", offset=0)
        if len(data) == 1:
            return cls()
        if len(data) != 1 + 2 * HASH_SIZE:
            raise DecodeError("a finished message is 1 or 65 bytes", offset=1)
        return cls(data[1 : 1 + HASH_SIZE], data[1 + HASH_SIZE :])


def parse_handshake(body: bytes) -> Hello | Finished:
    if not body:
        raise DecodeError("empty handshake message", offset=0)
    if body[0] == HandshakeType.FINISHED:
        return Finished.from_bytes(body)
    return Hello.from_bytes(body)


@dataclass(frozen=True, slots=True)
class Alert:
    """``code`` is an AlertCode, or the plain number when the peer sent one we do not know."""

    code: int
    reason: str

    def to_bytes(self) -> bytes:
        text = self.reason.encode("utf-8")[:255].decode("utf-8", "ignore").encode("utf-8")
        return bytes([self.code, len(text)]) + text

    @classmethod
    def from_bytes(cls, data: bytes) -> Alert:
        if len(data) < 2 or len(data) != 2 + data[1]:
            raise DecodeError("an alert is code, length and reason", offset=0)
        code = AlertCode(data[0]) if data[0] in AlertCode._value2member_map_ else data[0]
        return cls(code, data[2:].decode("utf-8", "replace"))
