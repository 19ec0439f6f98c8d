"""``Data``: the self-describing value of DL/T 698.45 (clause 7.3.1), and the structured
selector types built from it (Region, RSD, CSD, MS, RCSD).

On the wire a Data is a type tag followed by the value; arrays and structures carry an A-XDR
count and nest. ``Data(type, value)`` holds the tag and a Python value of the kind listed in
``VALUE_KINDS``; ``encode_data`` and ``read_data`` convert, one table mapping every tag to its
reader and writer.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from wattguard.protocol import axdr
from wattguard.protocol.axdr import Reader, encode_length
from wattguard.protocol.values import (
    COMDCB,
    OAD,
    OMD,
    ROAD,
    SID,
    SIDMAC,
    TI,
    TSA,
    BitString,
    Date,
    DateTime,
    DateTimeS,
    ScalerUnit,
    Time,
)

__all__ = [
    "CSD",
    "MS",
    "RCSD",
    "RSD",
    "Data",
    "DataType",
    "Region",
    "encode_data",
    "read_data",
]

#: Deepest nesting of arrays and structures accepted while decoding (a guard against stack
#: exhaustion from hostile input; real objects nest three or four deep).
MAX_DEPTH = 16


class DataType(enum.IntEnum):
    """The type tag that opens every Data on the wire (the standard's numbers)."""

    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOL = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DATE_TIME_S = 28
    OI = 80
    OAD = 81
    ROAD = 82
    OMD = 83
    TI = 84
    TSA = 85
    MAC = 86
    RN = 87
    REGION = 88
    SCALER_UNIT = 89
    RSD = 90
    CSD = 91
    MS = 92
    SID = 93
    SID_MAC = 94
    COMDCB = 95
    RCSD = 96


class Data(NamedTuple):
    """A typed DL/T 698.45 value.

    A NamedTuple rather than a frozen dataclass (CONVENTIONS.md rule 4): one is built for every
    value decoded, and a tuple is built in a fifth of the time, immutable all the same.
    """

    type: DataType
    value: Any = None

    def to_bytes(self) -> bytes:
        return encode_data(self)

    @classmethod
    def structure(cls, *items: Data) -> Data:
        return cls(DataType.STRUCTURE, tuple(items))

    @classmethod
    def array(cls, *items: Data) -> Data:
        return cls(DataType.ARRAY, tuple(items))


@dataclass(frozen=True, slots=True)
class Region:
    """A range: unit 0 [start, end), 1 (start, end], 2 [start, end], 3 (start, end)."""

    unit: int
    start: Data
    end: Data

    def to_bytes(self) -> bytes:
        return bytes((self.unit,)) + encode_data(self.start) + encode_data(self.end)

    @classmethod
    def read(cls, reader: Reader, depth: int = 0) -> Region:
        return cls(reader.u8(), read_data(reader, depth + 1), read_data(reader, depth + 1))


class MSChoice(enum.IntEnum):
    """Which meters an MS names: none, all, or a list or regions of user types, addresses or
    configuration serial numbers."""

    NO_METER = 0
    ALL_METERS = 1
    USER_TYPES = 2
    ADDRESSES = 3
    SERIAL_NUMBERS = 4
    USER_TYPE_REGIONS = 5
    ADDRESS_REGIONS = 6
    SERIAL_REGIONS = 7


#: The type of a Region's bounds in each region choice of MS: user types are unsigned,
#: addresses TSA, configuration serial numbers long-unsigned.
_MS_REGION_BOUND = {
    5: DataType.UNSIGNED,
    6: DataType.TSA,
    7: DataType.LONG_UNSIGNED,
}


@dataclass(frozen=True, slots=True)
class MS:
    """A meter set: which meters a record selector covers."""

    choice: MSChoice
    items: tuple[Any, ...] = ()

    def _regions_ok(self) -> bool:
        bound = _MS_REGION_BOUND.get(self.choice)
        return bound is None or all(
            region.start.type == bound and region.end.type == bound for region in self.items
        )

    def to_bytes(self) -> bytes:
        if not self._regions_ok():
            bound = _MS_REGION_BOUND[self.choice].name
            raise ValueError(f"MS {self.choice.name} regions must be bounded by {bound} values")
        out = bytes((self.choice,))
        if self.choice <= MSChoice.ALL_METERS:
            return out
        out += encode_length(len(self.items))
        if self.choice == MSChoice.USER_TYPES:
            return out + bytes(self.items)
        if self.choice == MSChoice.SERIAL_NUMBERS:
            return out + b"".join(axdr.U16.pack(item) for item in self.items)
        return out + b"".join(item.to_bytes() for item in self.items)

    @classmethod
    def read(cls, reader: Reader, depth: int = 0) -> MS:
        start = reader.pos
        try:
            choice = MSChoice(reader.u8())
        except ValueError:
            raise reader.error("unknown MS choice", start) from None
        if choice <= MSChoice.ALL_METERS:
            return cls(choice)
        count = reader.length()
        items: tuple[Any, ...]
        if choice == MSChoice.USER_TYPES:
            items = tuple(reader.take(count))
        elif choice == MSChoice.ADDRESSES:
            items = tuple(TSA.read(reader) for _ in range(count))
        elif choice == MSChoice.SERIAL_NUMBERS:
            items = tuple(reader.u16() for _ in range(count))
        else:
            items = tuple(Region.read(reader, depth) for _ in range(count))
        ms = cls(choice, items)
        if not ms._regions_ok():
            raise reader.error(f"MS {choice.name} region bounds have the wrong type", start)
        return ms


# The fields of each RSD selector, by kind (DL/T 698.45-2017 clause 7.3.2, RSD).
_SELECTOR_FIELDS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("oad", "data"),
    2: ("oad", "data", "data", "data"),
    3: ("selector2_list",),
    4: ("date_time_s", "ms"),
    5: ("date_time_s", "ms"),
    6: ("date_time_s", "date_time_s", "ti", "ms"),
    7: ("date_time_s", "date_time_s", "ti", "ms"),
    8: ("date_time_s", "date_time_s", "ti", "ms"),
    9: ("unsigned",),
    10: ("unsigned", "ms"),
}


@dataclass(frozen=True, slots=True)
class RSD:
    """Row selection descriptor: selector number and its fields in order, e.g.
    ``RSD(9, (1,))`` for "the last record" or ``RSD(1, (OAD.parse("20210200"), Data(...)))``
    for "records whose freeze time equals ...". Selector 3 holds a tuple of selector-2 RSDs."""

    selector: int
    fields: tuple[Any, ...] = ()

    def to_bytes(self) -> bytes:
        kinds = _SELECTOR_FIELDS[self.selector]
        if len(kinds) != len(self.fields):
            raise ValueError(f"selector {self.selector} takes {len(kinds)} fields")
        out = [bytes((self.selector,))]
        for kind, value in zip(kinds, self.fields, strict=True):
            if kind == "data":
                out.append(encode_data(value))
            elif kind == "unsigned":
                out.append(bytes((value,)))
            elif kind == "selector2_list":
                out.append(encode_length(len(value)))
                out.extend(item.to_bytes()[1:] for item in value)
            else:
                out.append(value.to_bytes())
        return b"".join(out)

    @classmethod
    def read(cls, reader: Reader, depth: int = 0) -> RSD:
        start = reader.pos
        selector = reader.u8()
        kinds = _SELECTOR_FIELDS.get(selector)
        if kinds is None:
            raise reader.error(f"unknown RSD selector {selector}", start)
        fields: list[Any] = []
        for kind in kinds:
            if kind == "oad":
                fields.append(OAD.read(reader))
            elif kind == "data":
                fields.append(read_data(reader, depth + 1))
            elif kind == "date_time_s":
                fields.append(DateTimeS.read(reader))
            elif kind == "ti":
                fields.append(TI.read(reader))
            elif kind == "ms":
                fields.append(MS.read(reader, depth))
            elif kind == "unsigned":
                fields.append(reader.u8())
            else:  # selector2_list
                fields.append(
                    tuple(
                        cls(
                            2,
                            (
                                OAD.read(reader),
                                read_data(reader, depth + 1),
                                read_data(reader, depth + 1),
                                read_data(reader, depth + 1),
                            ),
                        )
                        for _ in range(reader.length())
                    )
                )
        return cls(selector, tuple(fields))


@dataclass(frozen=True, slots=True)
class CSD:
    """Column selection descriptor: an OAD, or a ROAD (a record object with its columns)."""

    column: OAD | ROAD

    def to_bytes(self) -> bytes:
        return (b"\x01" if isinstance(self.column, ROAD) else b"\x00") + self.column.to_bytes()

    @classmethod
    def read(cls, reader: Reader) -> CSD:
        start = reader.pos
        choice = reader.u8()
        if choice == 0:
            return cls(OAD.read(reader))
        if choice == 1:
            return cls(ROAD.read(reader))
        raise reader.error(f"unknown CSD choice {choice}", start)


@dataclass(frozen=True, slots=True)
class RCSD:
    """Record column selection: the columns asked for, in order."""

    columns: tuple[CSD, ...]

    def to_bytes(self) -> bytes:
        return encode_length(len(self.columns)) + b"".join(c.to_bytes() for c in self.columns)

    @classmethod
    def read(cls, reader: Reader) -> RCSD:
        return cls(tuple(CSD.read(reader) for _ in range(reader.length())))


def _fixed(fmt: struct.Struct) -> tuple[Callable[[Reader, int], Any], Callable[[Any], bytes]]:
    def read(reader: Reader, depth: int) -> Any:
        return reader.unpack(fmt)

    return read, fmt.pack


def _octets(reader: Reader, depth: int) -> bytes:
    return reader.take(reader.length())


def _write_octets(value: bytes) -> bytes:
    return encode_length(len(value)) + value


_PRINTABLE = frozenset(range(0x20, 0x7F))


def visible_text(raw: bytes, reader: Reader, start: int) -> str:
    """A visible-string's bytes as text: printable ASCII only (0x20-0x7E)."""
    if not _PRINTABLE.issuperset(raw):
        raise reader.error("visible-string holds a byte that is not printable ASCII", start)
    return raw.decode("ascii")


def write_visible(value: str) -> bytes:
    raw = value.encode("ascii")
    if not _PRINTABLE.issuperset(raw):
        raise ValueError("a visible-string holds printable ASCII only")
    return raw


def _visible(reader: Reader, depth: int) -> str:
    start = reader.pos
    return visible_text(reader.take(reader.length()), reader, start)


def _utf8(reader: Reader, depth: int) -> str:
    start = reader.pos
    raw = reader.take(reader.length())
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise reader.error("UTF8-string is not valid UTF-8", start) from None


def _sequence(reader: Reader, depth: int) -> tuple[Data, ...]:
    if depth >= MAX_DEPTH:
        raise reader.error(f"data nested deeper than {MAX_DEPTH}")
    count = reader.length()
    if count > reader.remaining():
        raise reader.error(f"{count} elements cannot fit in {reader.remaining()} bytes")
    depth += 1
    data = reader.data
    size = len(data)
    items = []
    for _ in range(count):
        # Inline the fixed-size case: arrays of numbers are most of what meters send.
        pos = reader.pos
        fixed = _FIXED_SIZE.get(data[pos]) if pos < size else None
        if fixed is not None and pos + 1 + fixed[1].size <= size:
            reader.pos = pos + 1 + fixed[1].size
            items.append(_new_data(Data, (fixed[0], fixed[1].unpack_from(data, pos + 1)[0])))
        else:
            items.append(read_data(reader, depth))
    return tuple(items)


def _write_sequence(items: tuple[Data, ...]) -> bytes:
    return encode_length(len(items)) + b"".join(encode_data(item) for item in items)


def _bool(reader: Reader, depth: int) -> bool:
    start = reader.pos
    value = reader.u8()
    if value > 1:
        raise reader.error(f"bool must be 0 or 1, not {value}", start)
    return value == 1


def _plain(cls: Any) -> tuple[Callable[[Reader, int], Any], Callable[[Any], bytes]]:
    return (lambda reader, depth: cls.read(reader)), (lambda value: value.to_bytes())


def _nested(cls: Any) -> tuple[Callable[[Reader, int], Any], Callable[[Any], bytes]]:
    return (lambda reader, depth: cls.read(reader, depth)), (lambda value: value.to_bytes())


_CODECS: dict[DataType, tuple[Callable[[Reader, int], Any], Callable[[Any], bytes]]] = {
    DataType.NULL: (lambda reader, depth: None, lambda value: b""),
    DataType.ARRAY: (_sequence, _write_sequence),
    DataType.STRUCTURE: (_sequence, _write_sequence),
    DataType.BOOL: (_bool, lambda value: b"\x01" if value else b"\x00"),
    DataType.BIT_STRING: _plain(BitString),
    DataType.DOUBLE_LONG: _fixed(axdr.I32),
    DataType.DOUBLE_LONG_UNSIGNED: _fixed(axdr.U32),
    DataType.OCTET_STRING: (_octets, _write_octets),
    DataType.VISIBLE_STRING: (_visible, lambda value: _write_octets(write_visible(value))),
    DataType.UTF8_STRING: (_utf8, lambda value: _write_octets(value.encode("utf-8"))),
    DataType.INTEGER: _fixed(axdr.I8),
    DataType.LONG: _fixed(axdr.I16),
    DataType.UNSIGNED: _fixed(struct.Struct(">B")),
    DataType.LONG_UNSIGNED: _fixed(axdr.U16),
    DataType.LONG64: _fixed(axdr.I64),
    DataType.LONG64_UNSIGNED: _fixed(axdr.U64),
    DataType.ENUM: _fixed(struct.Struct(">B")),
    DataType.FLOAT32: _fixed(axdr.F32),
    DataType.FLOAT64: _fixed(axdr.F64),
    DataType.DATE_TIME: _plain(DateTime),
    DataType.DATE: _plain(Date),
    DataType.TIME: _plain(Time),
    DataType.DATE_TIME_S: _plain(DateTimeS),
    DataType.OI: _fixed(axdr.U16),
    DataType.OAD: _plain(OAD),
    DataType.ROAD: _plain(ROAD),
    DataType.OMD: _plain(OMD),
    DataType.TI: _plain(TI),
    DataType.TSA: _plain(TSA),
    DataType.MAC: (_octets, _write_octets),
    DataType.RN: (_octets, _write_octets),
    DataType.REGION: _nested(Region),
    DataType.SCALER_UNIT: _plain(ScalerUnit),
    DataType.RSD: _nested(RSD),
    DataType.CSD: _plain(CSD),
    DataType.MS: _nested(MS),
    DataType.SID: _plain(SID),
    DataType.SID_MAC: _plain(SIDMAC),
    DataType.COMDCB: _plain(COMDCB),
    DataType.RCSD: _plain(RCSD),
}
_READERS = {int(tag): (tag, codec[0]) for tag, codec in _CODECS.items()}
_WRITERS = {tag: codec[1] for tag, codec in _CODECS.items()}


_new_data = tuple.__new__
_FIXED_SIZE: dict[int, tuple[DataType, struct.Struct]] = {
    int(tag): (tag, fmt)
    for tag, fmt in (
        (DataType.DOUBLE_LONG, axdr.I32),
        (DataType.DOUBLE_LONG_UNSIGNED, axdr.U32),
        (DataType.INTEGER, axdr.I8),
        (DataType.LONG, axdr.I16),
        (DataType.UNSIGNED, struct.Struct(">B")),
        (DataType.LONG_UNSIGNED, axdr.U16),
        (DataType.LONG64, axdr.I64),
        (DataType.LONG64_UNSIGNED, axdr.U64),
        (DataType.ENUM, struct.Struct(">B")),
        (DataType.FLOAT32, axdr.F32),
        (DataType.FLOAT64, axdr.F64),
        (DataType.OI, axdr.U16),
    )
}


#: The compiled decoder's Data function when it is in use (set by ``_accelerate``):
#: ``(data, pos, depth) -> (Data, pos after it)`` for well-formed input, else None.
_fast_data: Callable[[bytes, int, int], tuple[Data, int] | None] | None = None


def read_data(reader: Reader, depth: int = 0) -> Data:
    """Read one tagged Data value."""
    start = reader.pos
    data = reader.data
    if start < len(data):
        fixed = _FIXED_SIZE.get(data[start])
        # The numbers that make up most readings: one unpack, no dispatch.
        if fixed is not None and start + 1 + fixed[1].size <= len(data):
            reader.pos = start + 1 + fixed[1].size
            return _new_data(Data, (fixed[0], fixed[1].unpack_from(data, start + 1)[0]))
        # Arrays and structures through the compiled decoder when it is in use; what it
        # declines (anything malformed included) is read below, which explains the refusal.
        # Only at the top (depth 0): the elements read below after a decline are not offered
        # to it again, one by one.
        if _fast_data is not None and depth == 0 and data[start] in (1, 2) and type(data) is bytes:
            found = _fast_data(data, start, depth)
            if found is not None:
                reader.pos = found[1]
                return found[0]
    entry = _READERS.get(reader.u8())
    if entry is None:
        raise reader.error(f"unknown data type tag {reader.data[start]}", start)
    tag, read = entry
    return _new_data(Data, (tag, read(reader, depth)))


def encode_data(data: Data) -> bytes:
    """The tagged encoding of ``data``; a value out of its type's range raises ValueError."""
    try:
        return bytes((data.type,)) + _WRITERS[data.type](data.value)
    except struct.error as exc:
        raise ValueError(f"{data.type.name}: {exc}") from None
