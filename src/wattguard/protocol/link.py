"""The DL/T 698.45 link-layer frame.

::

    68 | L L | C | AF | SA (1..16) | CA | HCS HCS | APDU ... | FCS FCS | 16
         \\____________ header, covered by HCS ____/
         \\________________________ covered by FCS ______________/

* ``L`` (2 bytes, little-endian): bits 0-13 the frame length without the 68 and 16 bytes;
  bit 14 the unit (0 bytes, 1 kilobytes; decoded, never sent); bit 15 reserved.
* ``C``: bit 7 DIR (1: sent by the server), bit 6 PRM (1: the client started the exchange:
  its request and the server's response; 0: the server did: a report or login and the
  client's answer),
  bit 5 fragment, bit 3 scrambling (every APDU byte + 0x33), bits 0-2 function code
  (1 link management, 3 user data).
* ``AF``: bits 0-3 address length - 1, bit 4 logical address, bit 5 extended logical address
  (the first SA byte is then the extended logical address, 2..255, and counts in the length),
  bits 6-7 address type (single, wildcard, group, broadcast).
* ``SA``: the server address in BCD, lowest byte first; a wildcard nibble is 0xA.
* ``CA``: the client address (one byte).
* ``HCS``/``FCS``: CRC-16/X-25, low byte first.
* When the fragment bit is set the APDU field starts with a 2-byte fragment word (little-endian):
  bits 0-11 the fragment number, bits 14-15 the kind (start, last, acknowledge, middle).

Clause references are to DL/T 698.45-2017 clause 6; interpretations are in docs/protocol.md.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from wattguard.errors import DecodeError
from wattguard.protocol.crc import crc16

__all__ = [
    "AddressType",
    "Control",
    "Fragment",
    "FragmentKind",
    "FunctionCode",
    "LinkFrame",
    "ServerAddress",
    "decode_frame",
]

START = 0x68
END = 0x16
WAKE_UP = 0xFE
SCRAMBLE = 0x33
#: Largest L field value (14 bits).
MAX_L = 0x3FFF
_HEADER_FIXED = 1 + 2 + 1 + 1  # 68, L, C, AF
_SCRAMBLE_ADD = bytes((value + SCRAMBLE) & 0xFF for value in range(256))
_SCRAMBLE_SUB = bytes((value - SCRAMBLE) & 0xFF for value in range(256))


class FunctionCode(enum.IntEnum):
    """Bits 0-2 of the control byte: link management (LINK login, heartbeat, logout), or
    user data (every other APDU)."""

    LINK_MANAGEMENT = 1
    USER_DATA = 3


class AddressType(enum.IntEnum):
    """Bits 6-7 of AF: one server, a wildcard address, a group, or broadcast."""

    SINGLE = 0
    WILDCARD = 1
    GROUP = 2
    BROADCAST = 3


class FragmentKind(enum.IntEnum):
    """Bits 14-15 of the fragment word: the first, a middle or the last fragment of an APDU,
    or the acknowledgement of one."""

    START = 0
    LAST = 1
    ACKNOWLEDGE = 2
    MIDDLE = 3


@dataclass(frozen=True, slots=True)
class Control:
    """The control byte. ``client_started`` is PRM: DIR/PRM 0/1 a client request, 1/1 the
    server's response, 1/0 a server report (or LINK login/heartbeat), 0/0 the client's answer
    to it (DL/T 698.45-2017 clause 6.1.3; docs/protocol.md)."""

    from_server: bool
    client_started: bool
    function: FunctionCode = FunctionCode.USER_DATA
    fragmented: bool = False
    scrambled: bool = False

    def to_byte(self) -> int:
        return (
            (self.from_server << 7)
            | (self.client_started << 6)
            | (self.fragmented << 5)
            | (self.scrambled << 3)
            | self.function
        )

    @classmethod
    def from_byte(cls, value: int, offset: int = 0) -> Control:
        cached = _CONTROLS.get(value)
        if cached is not None:
            return cached
        try:
            function = FunctionCode(value & 0x07)
        except ValueError:
            raise DecodeError(f"unknown link function code {value & 0x07}", offset=offset) from None
        if value & 0x10:
            raise DecodeError("reserved control bit 4 is set", offset=offset)
        return cls(
            from_server=bool(value & 0x80),
            client_started=bool(value & 0x40),
            function=function,
            fragmented=bool(value & 0x20),
            scrambled=bool(value & 0x08),
        )


_CONTROLS: dict[int, Control] = {}
for _value in range(256):
    if _value & 0x07 in (1, 3) and not _value & 0x10:
        _CONTROLS[_value] = Control.from_byte(_value)


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """The server address SA with its type and logical address.

    ``address`` holds the address bytes as written (most significant first, as printed on a
    meter's nameplate), e.g. ``bytes.fromhex("123456789012")`` for meter 123456789012; the
    wire carries them reversed. ``extended_logical`` addresses a module inside a meter.
    """

    address: bytes
    type: AddressType = AddressType.SINGLE
    logical: int = 0
    extended_logical: int | None = None

    def __post_init__(self) -> None:
        room = 15 if self.extended_logical is not None else 16
        if not 1 <= len(self.address) <= room:
            raise ValueError(f"a server address is 1 to {room} bytes, not {len(self.address)}")
        if self.logical not in (0, 1):
            raise ValueError("the logical address is 0 or 1")
        if self.extended_logical is not None and not 2 <= self.extended_logical <= 255:
            raise ValueError("an extended logical address is 2 to 255")
        if self.type == AddressType.BROADCAST and (
            self.address != b"\xaa" or self.extended_logical is not None
        ):
            raise ValueError("a broadcast address is the single byte AA, with no extension")

    @classmethod
    def parse(cls, text: str, **kwargs: object) -> ServerAddress:
        """From the printed address, e.g. ``"123456789012"`` (an odd length is left-padded)."""
        digits = text if len(text) % 2 == 0 else "0" + text
        return cls(bytes.fromhex(digits), **kwargs)  # type: ignore[arg-type]

    @property
    def text(self) -> str:
        return self.address.hex().upper()

    @classmethod
    def broadcast(cls) -> ServerAddress:
        return cls(b"\xaa", AddressType.BROADCAST)

    def to_bytes(self) -> bytes:
        """AF followed by SA as they appear on the wire."""
        sa = self.address[::-1]
        if self.extended_logical is not None:
            sa = bytes((self.extended_logical,)) + sa
        af = (
            (len(sa) - 1)
            | (self.logical << 4)
            | ((self.extended_logical is not None) << 5)
            | (self.type << 6)
        )
        return bytes((af,)) + sa

    @classmethod
    def read(cls, data: bytes, offset: int) -> tuple[ServerAddress, int]:
        """Decode AF and SA at ``offset``; return the address and the offset after it."""
        if offset >= len(data):
            raise DecodeError("frame ends before the address field", offset=offset)
        af = data[offset]
        length = (af & 0x0F) + 1
        end = offset + 1 + length
        if end > len(data):
            raise DecodeError("frame ends inside the server address", offset=offset)
        key = bytes(data[offset:end])
        cached = _ADDRESSES.get(key)
        if cached is not None:
            return cached, end
        address = cls._parse(data, offset, af, length, end)
        if len(_ADDRESSES) >= _ADDRESS_CACHE_SIZE:
            _ADDRESSES.clear()
        _ADDRESSES[key] = address
        return address, end

    @classmethod
    def _parse(cls, data: bytes, offset: int, af: int, length: int, end: int) -> ServerAddress:
        sa = data[offset + 1 : end]
        extended = None
        if af & 0x20:
            if length < 2 or sa[0] < 2:
                raise DecodeError("bad extended logical address", offset=offset + 1)
            extended, sa = sa[0], sa[1:]
        try:
            address = cls(sa[::-1], AddressType(af >> 6), (af >> 4) & 1, extended)
        except ValueError as exc:
            raise DecodeError(str(exc), offset=offset + 1) from None
        return address


# Addresses repeat: a terminal talks to the same few hundred meters all day. Decoded
# addresses are immutable, so the bytes of AF+SA key a small cache.
_ADDRESS_CACHE_SIZE = 4096
_ADDRESSES: dict[bytes, ServerAddress] = {}


@dataclass(frozen=True, slots=True)
class Fragment:
    """The fragment word of a fragmented frame."""

    number: int
    kind: FragmentKind

    def to_bytes(self) -> bytes:
        return ((self.kind << 14) | (self.number & 0x0FFF)).to_bytes(2, "little")

    @classmethod
    def from_bytes(cls, data: bytes, offset: int = 0) -> Fragment:
        value = int.from_bytes(data[:2], "little")
        if value & 0x3000:
            raise DecodeError("reserved fragment bits 12-13 are set", offset=offset)
        return cls(value & 0x0FFF, FragmentKind(value >> 14))


@dataclass(frozen=True, slots=True)
class LinkFrame:
    """A whole link frame. ``apdu`` is the APDU (or fragment data) as the application sees it:
    descrambled, without the fragment word."""

    control: Control
    address: ServerAddress
    client_address: int
    apdu: bytes
    fragment: Fragment | None = None

    def to_bytes(self) -> bytes:
        if self.control.fragmented != (self.fragment is not None):
            raise ValueError("the fragment bit and the fragment word must go together")
        user_data = self.apdu
        if self.control.scrambled:
            user_data = user_data.translate(_SCRAMBLE_ADD)
        if self.fragment is not None:
            user_data = self.fragment.to_bytes() + user_data
        address = self.address.to_bytes()
        header_len = 2 + 1 + len(address) + 1 + 2  # L C AF+SA CA HCS
        length = header_len + len(user_data) + 2  # + FCS
        if length > MAX_L:
            raise ValueError(f"frame of {length} bytes is longer than L can say ({MAX_L})")
        header = (
            length.to_bytes(2, "little")
            + bytes((self.control.to_byte(),))
            + address
            + bytes((self.client_address,))
        )
        body = header + crc16(header).to_bytes(2, "little") + user_data
        return b"\x68" + body + crc16(body).to_bytes(2, "little") + b"\x16"


#: The compiled decoder's frame function when it is in use (set by ``_accelerate``): the
#: frame of well-formed input, or None, and the code below decides.
_fast_frame: Callable[[bytes], LinkFrame | None] | None = None


def frame_length(data: bytes | bytearray, start: int) -> int:
    """The L field at ``start`` (the 0x68 byte) as a count of bytes, 68 and 16 excluded."""
    raw = data[start + 1] | (data[start + 2] << 8)
    if raw & 0x8000:
        raise DecodeError("reserved length bit 15 is set", offset=start + 1)
    length = raw & MAX_L
    return length * 1024 if raw & 0x4000 else length


def parse_frame(data: bytes, start: int = 0) -> LinkFrame:
    """Decode the frame that begins with 0x68 at ``start`` and fills ``data`` to its end."""
    if _fast_frame is not None and start == 0 and type(data) is bytes:
        frame = _fast_frame(data)
        if frame is not None:
            return frame
    return _parse_frame(data, start)


def _parse_frame(data: bytes, start: int) -> LinkFrame:
    """:func:`parse_frame` in Python: the reference, and the source of every refusal."""
    length = frame_length(data, start)
    end = start + length + 2
    if end != len(data):
        raise DecodeError(
            f"L says {length + 2} bytes, {len(data) - start} present", offset=start + 1
        )
    if data[end - 1] != END:
        raise DecodeError("frame does not end with 0x16", offset=end - 1)
    control = Control.from_byte(data[start + 3], start + 3)
    address, pos = ServerAddress.read(data, start + 4)
    header_end = pos + 1  # CA
    if header_end + 2 > end - 3:
        raise DecodeError("frame too short for its header", offset=start + 1)
    if crc16(data[start + 1 : header_end]) != data[header_end] | (data[header_end + 1] << 8):
        raise DecodeError("bad header check sequence (HCS)", offset=header_end)
    if crc16(data[start + 1 : end - 3]) != data[end - 3] | (data[end - 2] << 8):
        raise DecodeError("bad frame check sequence (FCS)", offset=end - 3)
    user_data = data[header_end + 2 : end - 3]
    fragment = None
    if control.fragmented:
        if len(user_data) < 2:
            raise DecodeError("fragmented frame without a fragment word", offset=header_end + 2)
        fragment = Fragment.from_bytes(user_data, header_end + 2)
        user_data = user_data[2:]
    if control.scrambled:
        user_data = user_data.translate(_SCRAMBLE_SUB)
    return LinkFrame(control, address, data[pos], user_data, fragment)


def decode_frame(data: bytes) -> LinkFrame:
    """Decode exactly one frame, optionally preceded by FE wake-up bytes.

    Raises :class:`~wattguard.errors.DecodeError` with the offset of the offending byte.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if _fast_frame is not None:
        frame = _fast_frame(data)
        if frame is not None:
            return frame
    start = 0
    while start < len(data) and data[start] == WAKE_UP:
        start += 1
    if start >= len(data) or data[start] != START:
        raise DecodeError("frame does not start with 0x68", offset=start)
    if len(data) - start < _HEADER_FIXED + 1 + 1 + 2 + 2 + 1:
        raise DecodeError("too short to be a frame", offset=start)
    return _parse_frame(data, start)  # the compiled path has had its try above
