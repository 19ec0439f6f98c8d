"""The fixed-shape value types of DL/T 698.45 (clause 7.3.2 / Table 7): calendar values,
object names (OI, OAD, OMD, ROAD), TI, TSA, Scaler_Unit, SID, SID_MAC, COMDCB and bit-strings.

Each is a frozen dataclass with ``to_bytes()`` (the encoding *without* the Data type tag) and
``read(reader)``. Calendar values keep the raw fields because the standard lets any field be
"unspecified" (0xFF, or 0xFFFF for a year or milliseconds); ``to_datetime()`` converts when
every field is present. ``from_posix()`` / ``to_posix()`` are the one conversion between POSIX
seconds and a calendar value: a wattguard meter keeps its calendar in UTC.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from dataclasses import dataclass
from typing import NamedTuple

from wattguard.protocol.axdr import U16, U32, Reader, encode_length

__all__ = [
    "COMDCB",
    "OAD",
    "OMD",
    "ROAD",
    "SID",
    "SIDMAC",
    "TI",
    "TSA",
    "BitString",
    "Date",
    "DateTime",
    "DateTimeS",
    "ScalerUnit",
    "Time",
]

_DATE_TIME = struct.Struct(">HBBBBBBH")
_DATE_TIME_S = struct.Struct(">HBBBBB")
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBB")
_OAD = struct.Struct(">HBB")
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class BitString:
    """A bit-string: ``length`` bits, most significant bit of ``bits[0]`` first."""

    bits: bytes
    length: int

    def __post_init__(self) -> None:
        if len(self.bits) != (self.length + 7) // 8:
            raise ValueError(f"{self.length} bits need {(self.length + 7) // 8} bytes")

    def to_bytes(self) -> bytes:
        return encode_length(self.length) + self.bits

    @classmethod
    def read(cls, reader: Reader) -> BitString:
        length = reader.length()
        return cls(reader.take((length + 7) // 8), length)

    def __getitem__(self, index: int) -> bool:
        """Bit ``index`` counted from the first (most significant) bit."""
        return bool(self.bits[index // 8] & (0x80 >> (index % 8)))

    @classmethod
    def from_flags(cls, flags: list[bool]) -> BitString:
        value = bytearray((len(flags) + 7) // 8)
        for index, flag in enumerate(flags):
            if flag:
                value[index // 8] |= 0x80 >> (index % 8)
        return cls(bytes(value), len(flags))


@dataclass(frozen=True, slots=True)
class DateTime:
    """date_time: year, month, day, weekday (0 Sunday), hour, minute, second, milliseconds."""

    year: int
    month: int
    day: int
    weekday: int
    hour: int
    minute: int
    second: int
    milliseconds: int

    def to_bytes(self) -> bytes:
        return _DATE_TIME.pack(
            self.year,
            self.month,
            self.day,
            self.weekday,
            self.hour,
            self.minute,
            self.second,
            self.milliseconds,
        )

    @classmethod
    def read(cls, reader: Reader) -> DateTime:
        return cls(*_DATE_TIME.unpack(reader.take(_DATE_TIME.size)))

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> DateTime:
        return cls(
            value.year,
            value.month,
            value.day,
            (value.weekday() + 1) % 7,
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 1000,
        )

    def to_datetime(self) -> _dt.datetime:
        return _dt.datetime(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.milliseconds * 1000,
        )

    @classmethod
    def from_posix(cls, posix: float) -> DateTime:
        """The UTC calendar time of POSIX seconds ``posix``, to the millisecond."""
        return cls.from_datetime(_dt.datetime.fromtimestamp(posix, _dt.UTC))

    def to_posix(self) -> float:
        """The POSIX seconds of this UTC calendar time, milliseconds included; an unspecified
        field or a date that does not exist raises ValueError."""
        return self.to_datetime().replace(tzinfo=_dt.UTC).timestamp()


@dataclass(frozen=True, slots=True)
class DateTimeS:
    """date_time_s: year, month, day, hour, minute, second."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int

    def to_bytes(self) -> bytes:
        return _DATE_TIME_S.pack(
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )

    @classmethod
    def read(cls, reader: Reader) -> DateTimeS:
        return cls(*_DATE_TIME_S.unpack(reader.take(_DATE_TIME_S.size)))

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> DateTimeS:
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)

    def to_datetime(self) -> _dt.datetime:
        return _dt.datetime(self.year, self.month, self.day, self.hour, self.minute, self.second)

    @classmethod
    def from_posix(cls, posix: float) -> DateTimeS:
        """The UTC calendar second that contains POSIX seconds ``posix``."""
        return cls.from_datetime(_dt.datetime.fromtimestamp(math.floor(posix), _dt.UTC))

    def to_posix(self) -> int:
        """The POSIX seconds of this UTC calendar second; an unspecified field or a date that
        does not exist raises ValueError."""
        # the date's day number and the seconds of the day: what datetime's timestamp() works
        # out, at a quarter of its cost (every stored reading's time comes through here)
        hour, minute, second = self.hour, self.minute, self.second
        if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
            raise ValueError(f"no such time of day: {hour}:{minute}:{second}")
        days = _dt.date(self.year, self.month, self.day).toordinal() - _EPOCH_ORDINAL
        return days * 86400 + hour * 3600 + minute * 60 + second


@dataclass(frozen=True, slots=True)
class Date:
    """date: year, month, day, weekday (4 bytes on the wire)."""

    year: int
    month: int
    day: int
    weekday: int

    def to_bytes(self) -> bytes:
        return _DATE.pack(self.year, self.month, self.day, self.weekday)

    @classmethod
    def read(cls, reader: Reader) -> Date:
        return cls(*_DATE.unpack(reader.take(_DATE.size)))


@dataclass(frozen=True, slots=True)
class Time:
    """time: hour, minute, second (3 bytes on the wire)."""

    hour: int
    minute: int
    second: int

    def to_bytes(self) -> bytes:
        return _TIME.pack(self.hour, self.minute, self.second)

    @classmethod
    def read(cls, reader: Reader) -> Time:
        return cls(*_TIME.unpack(reader.take(_TIME.size)))


class OAD(NamedTuple):
    """Object attribute descriptor: OI (16 bits), attribute (bits 0-4 attribute number, bits
    5-7 attribute feature) and element index ``element`` (0: the whole attribute).

    A NamedTuple, like ``Data``: every request and response carries one or more.
    """

    oi: int
    attribute: int = 2
    element: int = 0
    feature: int = 0

    def to_bytes(self) -> bytes:
        return _OAD.pack(self.oi, (self.feature << 5) | self.attribute, self.element)

    @classmethod
    def read(cls, reader: Reader) -> OAD:
        pos = reader.pos
        if pos + 4 > len(reader.data):
            reader.take(4)  # raises the DecodeError with the offset
        oi, attribute, index = _OAD.unpack_from(reader.data, pos)
        reader.pos = pos + 4
        return _new_tuple(cls, (oi, attribute & 0x1F, index, attribute >> 5))

    @classmethod
    def parse(cls, text: str) -> OAD:
        """From eight hex digits, e.g. ``"00100200"``."""
        return cls.from_int(int(text, 16))

    @classmethod
    def from_int(cls, value: int) -> OAD:
        return cls(value >> 16, (value >> 8) & 0x1F, value & 0xFF, (value >> 13) & 0x07)

    def __int__(self) -> int:
        return (self.oi << 16) | (((self.feature << 5) | self.attribute) << 8) | self.element

    def __str__(self) -> str:
        return f"{int(self):08X}"


@dataclass(frozen=True, slots=True, order=True)
class OMD:
    """Object method descriptor: OI, method number, operation mode."""

    oi: int
    method: int
    mode: int = 0

    def to_bytes(self) -> bytes:
        return _OAD.pack(self.oi, self.method, self.mode)

    @classmethod
    def read(cls, reader: Reader) -> OMD:
        return cls(*_OAD.unpack(reader.take(4)))

    def __str__(self) -> str:
        return f"{self.oi:04X}{self.method:02X}{self.mode:02X}"


@dataclass(frozen=True, slots=True)
class ROAD:
    """Record OAD: an object and the columns (associated OADs) read from its records."""

    oad: OAD
    columns: tuple[OAD, ...]

    def to_bytes(self) -> bytes:
        return (
            self.oad.to_bytes()
            + encode_length(len(self.columns))
            + b"".join(column.to_bytes() for column in self.columns)
        )

    @classmethod
    def read(cls, reader: Reader) -> ROAD:
        oad = OAD.read(reader)
        return cls(oad, tuple(OAD.read(reader) for _ in range(reader.length())))


@dataclass(frozen=True, slots=True)
class TI:
    """Time interval: unit (0 s, 1 min, 2 h, 3 day, 4 month, 5 year) and count."""

    unit: int
    interval: int

    def to_bytes(self) -> bytes:
        if not 0 <= self.unit <= 5:
            raise ValueError(f"TI unit {self.unit} is not 0 (s) to 5 (year)")
        return bytes((self.unit,)) + U16.pack(self.interval)

    @classmethod
    def read(cls, reader: Reader) -> TI:
        start = reader.pos
        unit = reader.u8()
        if unit > 5:
            raise reader.error(f"TI unit {unit} is not 0 (s) to 5 (year)", start)
        return cls(unit, reader.u16())


@dataclass(frozen=True, slots=True)
class TSA:
    """Target server address: the AF byte and the address as printed (most significant first).

    Encoded as an octet-string whose first byte is ``address length - 1`` with the logical
    address in bits 4-5 (docs/protocol.md).
    """

    address: bytes
    logical: int = 0

    def to_bytes(self) -> bytes:
        body = bytes(((len(self.address) - 1) | (self.logical << 4),)) + self.address
        return encode_length(len(body)) + body

    @classmethod
    def read(cls, reader: Reader) -> TSA:
        start = reader.pos
        length = reader.length()
        body = reader.take(length)
        if length < 2 or (body[0] & 0x0F) + 1 != length - 1:
            raise reader.error("TSA length does not match its address-length field", start)
        return cls(body[1:], (body[0] >> 4) & 0x03)

    @property
    def text(self) -> str:
        return self.address.hex().upper()


@dataclass(frozen=True, slots=True)
class ScalerUnit:
    """Scaler (power of ten, signed) and unit (enum of Table 7-x)."""

    scaler: int
    unit: int

    def to_bytes(self) -> bytes:
        return struct.pack(">bB", self.scaler, self.unit)

    @classmethod
    def read(cls, reader: Reader) -> ScalerUnit:
        scaler, unit = struct.unpack(">bB", reader.take(2))
        return cls(scaler, unit)


@dataclass(frozen=True, slots=True)
class SID:
    """Security identifier: a 32-bit identification and additional data."""

    ident: int
    additional: bytes

    def to_bytes(self) -> bytes:
        return U32.pack(self.ident) + encode_length(len(self.additional)) + self.additional

    @classmethod
    def read(cls, reader: Reader) -> SID:
        ident = reader.u32()
        return cls(ident, reader.take(reader.length()))


@dataclass(frozen=True, slots=True)
class SIDMAC:
    """SID with a MAC."""

    sid: SID
    mac: bytes

    def to_bytes(self) -> bytes:
        return self.sid.to_bytes() + encode_length(len(self.mac)) + self.mac

    @classmethod
    def read(cls, reader: Reader) -> SIDMAC:
        sid = SID.read(reader)
        return cls(sid, reader.take(reader.length()))


# COMDCB enumerations: baud 0-10 (300 to 115200 bit/s) or 255 (auto), parity 0 none / 1 odd /
# 2 even, data bits 5-8, stop bits 1-2, flow control 0 none / 1 hardware / 2 software.
_COMDCB_VALID = (
    frozenset([*range(11), 255]),
    frozenset(range(3)),
    frozenset(range(5, 9)),
    frozenset((1, 2)),
    frozenset(range(3)),
)


@dataclass(frozen=True, slots=True)
class COMDCB:
    """Serial port parameters: baud rate, parity, data bits, stop bits, flow control (enums)."""

    baud: int
    parity: int
    data_bits: int
    stop_bits: int
    flow_control: int

    def _valid(self) -> bool:
        values = (self.baud, self.parity, self.data_bits, self.stop_bits, self.flow_control)
        return all(v in ok for v, ok in zip(values, _COMDCB_VALID, strict=True))

    def to_bytes(self) -> bytes:
        if not self._valid():
            raise ValueError(f"{self} holds a value outside its enumeration")
        return bytes((self.baud, self.parity, self.data_bits, self.stop_bits, self.flow_control))

    @classmethod
    def read(cls, reader: Reader) -> COMDCB:
        start = reader.pos
        value = cls(*reader.take(5))
        if not value._valid():
            raise reader.error("COMDCB holds a value outside its enumeration", start)
        return value
