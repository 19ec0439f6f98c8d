"""The ESAM's command interface, shaped like the real chip's: command and response frames,
instruction codes, status words, and the field layouts inside DATA.

::

    command:   55 | CLA | INS | P1 | P2 | Len (2, big-endian) | DATA | LRC
    response:  E9 | SW1 | SW2 | Len (2, big-endian) | DATA | LRC

``LRC`` is the bitwise NOT of the XOR of every byte between the start byte and the LRC
(CLA .. DATA in a command, SW1 .. DATA in a response). ``CLA`` is 80 for every command of the
profile. Inside DATA, numbers are big-endian and variable fields carry a 2-byte length
(:func:`pack` / :class:`Fields`). The command set and the status words are tabled in
docs/security.md.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from wattguard.errors import DecodeError

__all__ = [
    "CLA",
    "COMMAND_START",
    "MAX_DATA",
    "RESPONSE_START",
    "Command",
    "Fields",
    "Info",
    "Ins",
    "Reply",
    "Sw",
    "lrc",
    "pack",
    "u8",
    "u32",
    "var",
]

COMMAND_START = 0x55
RESPONSE_START = 0xE9
CLA = 0x80
#: The largest DATA a command or response may carry (a certificate, a 2 KiB APDU and more).
MAX_DATA = 4096
_HEADER = struct.Struct(">BBBBBH")  # start, CLA/SW1, INS/SW2, P1, P2, Len (command)
_REPLY_HEADER = struct.Struct(">BHH")  # start, SW, Len
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


class Ins(enum.IntEnum):
    """The instruction codes (INS) of the ESAM's command set (tabled in docs/security.md)."""

    GET_INFO = 0x01
    OPEN_REQUEST = 0x10
    PROTECT_RESPONSE = 0x11
    PROTECT_REPORT = 0x12
    CONNECT = 0x20
    RELEASE = 0x21
    WALLET_READ = 0x30
    WALLET_TOP_UP = 0x31
    WALLET_DEDUCT = 0x32
    WALLET_REFUND = 0x33
    KEY_UPDATE = 0x40
    CERTIFICATE_UPDATE = 0x41


class Info(enum.IntEnum):
    """GET_INFO P1: what to read. No item is a key."""

    SERIAL = 0x01
    VERSION = 0x02
    KEY_VERSION = 0x03
    COUNTERS = 0x04
    CERTIFICATE = 0x05
    STATION_CERTIFICATE = 0x06
    SESSION = 0x07


class Sw(enum.IntEnum):
    """Status words."""

    OK = 0x9000
    BAD_FRAME = 0x6F01  # start byte, LRC, or a frame shorter than its header
    INTERNAL = 0x6F00
    WRONG_LENGTH = 0x6700  # Len differs from the DATA that came, or is over MAX_DATA
    SECURITY_STATUS = 0x6982  # no session, an expired session, or nothing to answer for
    BAD_MAC = 0x6988  # a MAC, signature or decryption failed
    REPLAY = 0x6989  # a counter not above the last one accepted
    OUT_OF_SEQUENCE = 0x698A  # a top-up count that skips one
    BAD_DATA = 0x6A80  # DATA fields malformed
    WALLET_INSUFFICIENT = 0x6A84
    WALLET_LIMIT = 0x6A85
    BAD_P1P2 = 0x6A86
    KEY_VERSION = 0x6A88  # names a key version not held, or a key update not newer
    CERTIFICATE = 0x6A8A  # a certificate that does not verify, expired, or not newer
    UNKNOWN_INS = 0x6D00
    UNKNOWN_CLA = 0x6E00


def lrc(data: bytes) -> int:
    """Bitwise NOT of the XOR of ``data``."""
    x = 0
    for b in data:
        x ^= b
    return ~x & 0xFF


@dataclass(frozen=True, slots=True)
class Command:
    """A command frame to the ESAM: ``55 | CLA | INS | P1 | P2 | Len | DATA | LRC``."""

    ins: int
    p1: int = 0
    p2: int = 0
    data: bytes = b""
    cla: int = CLA

    def to_bytes(self) -> bytes:
        if len(self.data) > MAX_DATA:
            raise ValueError(f"command DATA over {MAX_DATA} bytes")
        body = struct.pack(">BBBBH", self.cla, self.ins, self.p1, self.p2, len(self.data))
        body += self.data
        return bytes((COMMAND_START,)) + body + bytes((lrc(body),))

    @classmethod
    def from_bytes(cls, frame: bytes) -> Command:
        """Decode a command frame. DecodeError.dar carries the status word to answer with."""
        if len(frame) < _HEADER.size + 1 or frame[0] != COMMAND_START:
            raise DecodeError("not a command frame", offset=0, dar=Sw.BAD_FRAME)
        if lrc(frame[1:-1]) != frame[-1]:
            raise DecodeError("LRC does not match", offset=len(frame) - 1, dar=Sw.BAD_FRAME)
        _, cla, ins, p1, p2, length = _HEADER.unpack_from(frame)
        if length > MAX_DATA or _HEADER.size + length + 1 != len(frame):
            raise DecodeError("Len differs from DATA", offset=5, dar=Sw.WRONG_LENGTH)
        return cls(ins, p1, p2, frame[_HEADER.size : -1], cla)


@dataclass(frozen=True, slots=True)
class Reply:
    """The ESAM's response frame: ``E9 | SW1 | SW2 | Len | DATA | LRC``, the status word first."""

    sw: int
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return self.sw == Sw.OK

    def to_bytes(self) -> bytes:
        body = struct.pack(">HH", self.sw, len(self.data)) + self.data
        return bytes((RESPONSE_START,)) + body + bytes((lrc(body),))

    @classmethod
    def from_bytes(cls, frame: bytes) -> Reply:
        if len(frame) < _REPLY_HEADER.size + 1 or frame[0] != RESPONSE_START:
            raise DecodeError("not a response frame", offset=0)
        if lrc(frame[1:-1]) != frame[-1]:
            raise DecodeError("LRC does not match", offset=len(frame) - 1)
        _, sw, length = _REPLY_HEADER.unpack_from(frame)
        if _REPLY_HEADER.size + length + 1 != len(frame):
            raise DecodeError("Len differs from DATA", offset=3)
        return cls(sw, frame[_REPLY_HEADER.size : -1])


# DATA fields


def u8(value: int) -> bytes:
    return bytes((value,))


def u32(value: int) -> bytes:
    return _U32.pack(value)


def var(value: bytes) -> bytes:
    """A variable field: 2-byte length, then the bytes."""
    if len(value) > 0xFFFF:
        raise ValueError("a variable field is at most 65535 bytes")
    return _U16.pack(len(value)) + value


def pack(*parts: bytes) -> bytes:
    return b"".join(parts)


class Fields:
    """Reads DATA field by field; running short or leaving bytes over raises DecodeError
    (answered with BAD_DATA)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        if self._pos + size > len(self._data):
            raise DecodeError("DATA ends inside a field", offset=self._pos, dar=Sw.BAD_DATA)
        out = self._data[self._pos : self._pos + size]
        self._pos += size
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def var(self) -> bytes:
        size: int = _U16.unpack(self.take(2))[0]
        return self.take(size)

    def end(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError("bytes after the last field", offset=self._pos, dar=Sw.BAD_DATA)
