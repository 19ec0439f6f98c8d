"""A-XDR primitives as DL/T 698.45 uses them: big-endian fixed-size integers and variable
lengths (``len < 0x80``: one byte; otherwise ``0x80 | n`` followed by n length bytes,
big-endian).

:class:`Reader` walks a buffer and raises :class:`~wattguard.errors.DecodeError` with the
offset of the first byte it could not use. Writers are plain functions returning bytes.
"""

from __future__ import annotations

import struct

from wattguard.errors import DecodeError

__all__ = ["MAX_LENGTH", "Reader", "encode_length"]

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
I8 = struct.Struct(">b")
I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
I64 = struct.Struct(">q")
F32 = struct.Struct(">f")
F64 = struct.Struct(">d")

#: The longest variable-length item accepted (a frame is at most 16 KiB less a few bytes).
MAX_LENGTH = 0xFFFF


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    if length <= 0xFF:
        return bytes((0x81, length))
    if length <= MAX_LENGTH:
        return b"\x82" + U16.pack(length)
    raise ValueError(f"A-XDR length {length} exceeds {MAX_LENGTH}")


class Reader:
    """Sequential reads over ``data`` starting at ``offset``; ``base`` is added to offsets in
    errors, so a nested reader reports positions within the whole frame."""

    __slots__ = ("base", "data", "pos")

    def __init__(self, data: bytes, offset: int = 0, base: int = 0) -> None:
        self.data = data
        self.pos = offset
        self.base = base

    def error(self, message: str, at: int | None = None) -> DecodeError:
        return DecodeError(message, offset=self.base + (self.pos if at is None else at))

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data) or count < 0:
            raise self.error(f"{count} bytes wanted, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        try:
            value = self.data[self.pos]
        except IndexError:
            raise self.error("1 byte wanted, none left") from None
        self.pos += 1
        return value

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise self.error("1 byte wanted, none left")
        return self.data[self.pos]

    def unpack(self, fmt: struct.Struct) -> int | float:
        end = self.pos + fmt.size
        if end > len(self.data):
            raise self.error(f"{fmt.size} bytes wanted, {len(self.data) - self.pos} left")
        (value,) = fmt.unpack_from(self.data, self.pos)
        self.pos = end
        return value  # type: ignore[no-any-return]

    def u16(self) -> int:
        return int(self.unpack(U16))

    def u32(self) -> int:
        return int(self.unpack(U32))

    def length(self) -> int:
        """An A-XDR length; refuses lengths that cannot fit in what is left."""
        start = self.pos
        first = self.u8()
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 2:
                raise self.error(f"length prefix 0x{first:02X} not supported", start)
            length = int.from_bytes(self.take(count), "big")
        return length

    def optional(self) -> bool:
        """An OPTIONAL marker: 0 absent, 1 present."""
        start = self.pos
        flag = self.u8()
        if flag == 0:
            return False
        if flag == 1:
            return True
        raise self.error(f"OPTIONAL marker must be 0 or 1, not {flag}", start)

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise self.error(f"{len(self.data) - self.pos} unexpected trailing bytes")
