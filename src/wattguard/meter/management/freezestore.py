"""Compact storage of frozen values: a :class:`FreezeTable` per freeze object (its
associated attribute table and its records), numpy ring buffers, one per (period, depth)
group, and their serialisation to bytes. The schedule lives in
:mod:`~wattguard.meter.management.freeze`.

Theory of operation. A frozen value is a DL/T 698.45 Data whose leaves are numbers (an
energy array [total, tariff 1..n], a phase array, a demand structure {value, time}). It is
split into a *shape* (the tree of types, the same for every row of a column) and its leaves
(integers), so a column is one ``(depth, width)`` integer array plus a validity flag per
row: 672 fifteen-minute rows of a five-register energy array take 13 KB, not 672 Python
trees. The shape is learned from the first complete value; a value that does not fit it (a
NULL where a number should be, a different array length) is stored as "not available" and
reads back as NULL. Leaves: the integer types, enum and bool, OI, and date_time_s (packed
into one integer). The dtype is the narrowest that holds every leaf type of the shape
(uint32 for energies, int32 for signed 32-bit values, int64 otherwise, long64-unsigned
kept as its two's-complement bit pattern).

A :class:`Group` holds the freeze times (int64 calendar seconds, strictly increasing) and
sequence numbers of its rows in a ring of ``depth`` slots; the oldest row is overwritten
when the ring is full.

Serialised layout (little-endian; rows in time order, so the size follows the rows held)::

    group  = period u16 | depth u16 | last f64 (NaN: none) | count u32 | times i64[count]
             | seqs u32[count] | columns u16 | column*
    column = OAD (4 bytes) | shape length u16 | shape | validity (count bits, packed)
             | values (count x width, the shape's dtype)
    shape  = type u8 [| count u8 | shape* for array and structure]
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from wattguard.errors import DecodeError
from wattguard.meter.management.model import refuse
from wattguard.protocol import OAD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.axdr import Reader

__all__ = [
    "FREEZE_NUMBER",
    "FREEZE_TIME",
    "Column",
    "FreezeAssociation",
    "FreezeObject",
    "FreezeTable",
    "Group",
    "Shape",
    "flatten",
    "rebuild",
]

FREEZE_NUMBER = OAD(0x2023, 2)  # freeze record number, double-long-unsigned
FREEZE_TIME = OAD(0x2021, 2)  # freeze time, date_time_s


class FreezeObject(enum.IntEnum):
    """The freeze objects, by OI."""

    INSTANT = 0x5000
    SECOND = 0x5001
    MINUTE = 0x5002
    HOUR = 0x5003
    DAY = 0x5004
    SETTLEMENT = 0x5005
    MONTH = 0x5006


#: A shape: a leaf DataType, or (ARRAY | STRUCTURE, child shapes).
Shape = DataType | tuple[DataType, tuple["Shape", ...]]

_UNSIGNED_32 = frozenset(
    (
        DataType.UNSIGNED,
        DataType.LONG_UNSIGNED,
        DataType.DOUBLE_LONG_UNSIGNED,
        DataType.ENUM,
        DataType.BOOL,
        DataType.OI,
    )
)
_SIGNED_32 = frozenset(
    (
        DataType.INTEGER,
        DataType.LONG,
        DataType.DOUBLE_LONG,
        DataType.UNSIGNED,
        DataType.LONG_UNSIGNED,
        DataType.ENUM,
        DataType.BOOL,
        DataType.OI,
    )
)
_LEAVES = _UNSIGNED_32 | _SIGNED_32 | {DataType.LONG64, DataType.LONG64_UNSIGNED}
_LEAVES |= {DataType.DATE_TIME_S}
_CONTAINERS = (DataType.ARRAY, DataType.STRUCTURE)
_GROUP_HEAD = struct.Struct("<HHdI")
_OBJECT_HEAD = struct.Struct("<HIH")
_U16 = struct.Struct("<H")


def flatten(value: Data, leaves: list[int]) -> Shape | None:
    """The shape of ``value``, its leaves appended to ``leaves``; None if it cannot be frozen
    (a NULL, a DAR, a string, a container of more than 255 items)."""
    kind = value.type
    if kind in _CONTAINERS:
        items = value.value
        if len(items) > 255:
            return None
        children = []
        for item in items:
            child = flatten(item, leaves)
            if child is None:
                return None
            children.append(child)
        return (kind, tuple(children))
    if kind not in _LEAVES:
        return None
    if kind == DataType.DATE_TIME_S:
        leaves.append(int.from_bytes(value.value.to_bytes(), "big"))
    elif kind == DataType.LONG64_UNSIGNED and value.value >= 2**63:
        leaves.append(int(value.value) - 2**64)
    else:
        leaves.append(int(value.value))
    return kind


def rebuild(shape: Shape, leaves: Any) -> Data:
    """The Data of ``shape`` with the leaves (an iterator of integers) filled in."""
    if isinstance(shape, tuple):
        kind, children = shape
        return Data(kind, tuple(rebuild(child, leaves) for child in children))
    raw = int(next(leaves))
    if shape == DataType.DATE_TIME_S:
        return Data(shape, DateTimeS.read(Reader(raw.to_bytes(7, "big"))))
    if shape == DataType.LONG64_UNSIGNED:
        return Data(shape, raw % 2**64)
    if shape == DataType.BOOL:
        return Data(shape, bool(raw))
    return Data(shape, raw)


def _leaf_types(shape: Shape) -> set[DataType]:
    if isinstance(shape, tuple):
        return set().union(*(_leaf_types(child) for child in shape[1])) if shape[1] else set()
    return {shape}


def dtype_of(shape: Shape) -> np.dtype[Any]:
    """The narrowest integer dtype that holds every leaf of ``shape``."""
    kinds = _leaf_types(shape)
    if kinds <= _UNSIGNED_32:
        return np.dtype("<u4")
    if kinds <= _SIGNED_32:
        return np.dtype("<i4")
    return np.dtype("<i8")


def width_of(shape: Shape) -> int:
    return sum(width_of(child) for child in shape[1]) if isinstance(shape, tuple) else 1


def encode_shape(shape: Shape) -> bytes:
    if isinstance(shape, tuple):
        kind, children = shape
        return bytes((kind, len(children))) + b"".join(encode_shape(c) for c in children)
    return bytes((shape,))


def decode_shape(reader: Reader, depth: int = 0) -> Shape:
    start = reader.pos
    if depth > 16:
        raise reader.error("frozen value shape nested too deep", start)
    try:
        kind = DataType(reader.u8())
    except ValueError:
        raise reader.error("unknown type in a frozen value shape", start) from None
    if kind in _CONTAINERS:
        return (kind, tuple(decode_shape(reader, depth + 1) for _ in range(reader.u8())))
    if kind not in _LEAVES:
        raise reader.error(f"{kind.name} cannot be a frozen leaf", start)
    return kind


@dataclass
class Column:
    """One associated attribute's frozen values in a group."""

    oad: OAD
    depth: int
    shape: Shape | None = None
    values: np.ndarray | None = None
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        if len(self.valid) != self.depth:
            self.valid = np.zeros(self.depth, bool)

    def store(self, slot: int, value: Data | None) -> None:
        leaves: list[int] = []
        shape = None if value is None else flatten(value, leaves)
        if shape is not None and self.shape is None:
            self.shape = shape
            self.values = np.zeros((self.depth, width_of(shape)), dtype_of(shape))
        if shape is None or shape != self.shape or self.values is None:
            self.valid[slot] = False
            return
        self.values[slot] = np.array(leaves, np.int64).astype(self.values.dtype)
        self.valid[slot] = True

    def load(self, slot: int) -> Data:
        if self.shape is None or self.values is None or not self.valid[slot]:
            return Data(DataType.NULL)
        return rebuild(self.shape, iter(self.values[slot].tolist()))


@dataclass
class Group:
    """The rows of one (period, depth) group: a ring of freeze times and sequence numbers,
    and a :class:`Column` per associated attribute."""

    period: int
    depth: int
    columns: dict[OAD, Column] = field(default_factory=dict)
    last: float | None = None  # the calendar time up to which boundaries are handled
    count: int = 0
    head: int = 0  # the next slot to write
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    seqs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    def __post_init__(self) -> None:
        if len(self.times) != self.depth:
            self.times = np.zeros(self.depth, np.int64)
            self.seqs = np.zeros(self.depth, np.uint32)

    def add_column(self, oad: OAD) -> None:
        if oad not in self.columns:
            self.columns[oad] = Column(oad, self.depth)

    def append(self, time: int, seq: int, values: dict[OAD, Data | None]) -> None:
        slot = self.head
        self.times[slot] = time
        self.seqs[slot] = seq
        for oad, column in self.columns.items():
            column.store(slot, values.get(oad))
        self.head = (slot + 1) % self.depth
        self.count = min(self.count + 1, self.depth)

    def slots(self) -> np.ndarray:
        """The occupied slots, oldest first."""
        return (self.head - self.count + np.arange(self.count)) % self.depth

    def newest(self) -> int | None:
        return int(self.times[(self.head - 1) % self.depth]) if self.count else None

    def clear(self) -> None:
        self.count = self.head = 0
        for column in self.columns.values():
            column.valid[:] = False

    # bytes

    def to_bytes(self) -> bytes:
        slots = self.slots()
        last = math.nan if self.last is None else self.last
        out = [_GROUP_HEAD.pack(self.period, self.depth, last, self.count)]
        out.append(self.times[slots].astype("<i8").tobytes())
        out.append(self.seqs[slots].astype("<u4").tobytes())
        out.append(_U16.pack(len(self.columns)))
        for column in self.columns.values():
            out.append(column.oad.to_bytes())
            shape = b"" if column.shape is None else encode_shape(column.shape)
            out.append(_U16.pack(len(shape)) + shape)
            out.append(np.packbits(column.valid[slots]).tobytes())
            if column.values is not None:
                out.append(column.values[slots].tobytes())
        return b"".join(out)

    @classmethod
    def read(cls, reader: Reader) -> Group:
        start = reader.pos
        period, depth, last, count = _GROUP_HEAD.unpack(reader.take(_GROUP_HEAD.size))
        if not depth or count > depth:
            raise reader.error(f"a group of depth {depth} cannot hold {count} rows", start)
        group = cls(period, depth, last=None if math.isnan(last) else last)
        group.count, group.head = count, count % depth
        group.times[:count] = np.frombuffer(reader.take(8 * count), "<i8")
        group.seqs[:count] = np.frombuffer(reader.take(4 * count), "<u4")
        if count > 1 and not (np.diff(group.times[:count]) > 0).all():
            raise reader.error("freeze times must increase", start)
        for _ in range(_U16.unpack(reader.take(2))[0]):
            column = _read_column(reader, depth, count)
            group.columns[column.oad] = column
        return group


def _read_column(reader: Reader, depth: int, count: int) -> Column:
    oad = OAD.read(reader)
    size = _U16.unpack(reader.take(2))[0]
    column = Column(oad, depth)
    end = reader.pos + size
    if size:
        column.shape = decode_shape(reader)
        if reader.pos != end:
            raise DecodeError("frozen value shape length does not match", offset=reader.pos)
    column.valid[:count] = np.unpackbits(
        np.frombuffer(reader.take((count + 7) // 8), np.uint8), count=count
    ).astype(bool)
    if column.shape is not None:
        dtype, width = dtype_of(column.shape), width_of(column.shape)
        column.values = np.zeros((depth, width), dtype)
        raw = reader.take(count * width * dtype.itemsize)
        column.values[:count] = np.frombuffer(raw, dtype).reshape(count, width)
    elif column.valid.any():
        raise DecodeError("frozen values without a shape", offset=reader.pos)
    return column


class FreezeAssociation(NamedTuple):
    """One entry of attribute 3: freeze ``oad`` every ``period`` units, keep ``depth`` rows."""

    period: int
    oad: OAD
    depth: int

    def to_data(self) -> Data:
        return Data.structure(
            Data(DataType.LONG_UNSIGNED, self.period),
            Data(DataType.OAD, self.oad),
            Data(DataType.LONG_UNSIGNED, self.depth),
        )

    @classmethod
    def from_data(cls, value: Data) -> FreezeAssociation:
        """An entry from its Data; a wrong shape raises ProtocolError(TYPE_MISMATCH)."""
        items: tuple[Data, ...] = value.value if value.type == DataType.STRUCTURE else ()
        kinds = tuple(item.type for item in items)
        if kinds != (DataType.LONG_UNSIGNED, DataType.OAD, DataType.LONG_UNSIGNED):
            raise refuse(DAR.TYPE_MISMATCH, "an entry is {long-unsigned, OAD, long-unsigned}")
        return cls(items[0].value, items[1].value, items[2].value)


class FreezeTable:
    """One freeze object: its attribute 3, its groups, and the merged view of its records
    (a :class:`~wattguard.meter.management.records.RecordTable`)."""

    time_column = FREEZE_TIME
    seq_column = FREEZE_NUMBER

    def __init__(self, kind: FreezeObject) -> None:
        self.kind = kind
        self.entries: list[FreezeAssociation] = []
        self.groups: dict[tuple[int, int], Group] = {}
        self.seq = 0
        self._view: tuple[np.ndarray, np.ndarray, list[tuple[Group, np.ndarray]]] | None = None

    def associate(self, entries: Sequence[FreezeAssociation]) -> None:
        """Install attribute 3, keeping the rows of the groups and columns that remain."""
        groups: dict[tuple[int, int], Group] = {}
        for entry in entries:
            key = (entry.period, entry.depth)
            if key not in groups:
                groups[key] = self.groups.get(key) or Group(entry.period, entry.depth)
        for key, group in groups.items():
            old = group.columns
            group.columns = {}
            for entry in entries:
                if (entry.period, entry.depth) == key:
                    group.columns[entry.oad] = old.get(entry.oad) or Column(entry.oad, group.depth)
        self.entries, self.groups = list(entries), groups
        self._view = None

    def changed(self) -> None:
        self._view = None

    def columns(self) -> tuple[OAD, ...]:
        return (FREEZE_NUMBER, FREEZE_TIME, *dict.fromkeys(e.oad for e in self.entries))

    def _merged(self) -> tuple[np.ndarray, np.ndarray, list[tuple[Group, np.ndarray]]]:
        """Every group's rows merged by freeze time: the times, their record numbers, and per
        group the slot holding each merged row (-1 where the group has none)."""
        if self._view is None:
            held = [(group, group.slots()) for group in self.groups.values()]
            stamps = [group.times[slots] for group, slots in held]
            times = np.unique(np.concatenate(stamps)) if stamps else np.zeros(0, np.int64)
            seqs = np.zeros(len(times), np.int64)
            parts = []
            for group, slots in held:
                rows = np.searchsorted(times, group.times[slots])
                seqs[rows] = group.seqs[slots]
                where = np.full(len(times), -1, np.int64)
                where[rows] = slots
                parts.append((group, where))
            self._view = (times.astype(np.int64), seqs, parts)
        return self._view

    def times(self) -> np.ndarray:
        return self._merged()[0]

    def seqs(self) -> np.ndarray:
        return self._merged()[1]

    def cell(self, row: int, oad: OAD) -> Data:
        for group, where in self._merged()[2]:
            column = group.columns.get(oad)
            if column is not None and where[row] >= 0:
                return column.load(int(where[row]))
        return Data(DataType.NULL)

    # bytes

    def to_bytes(self) -> bytes:
        out = [_OBJECT_HEAD.pack(self.kind, self.seq, len(self.entries))]
        for entry in self.entries:
            out.append(struct.pack("<H", entry.period) + entry.oad.to_bytes())
            out.append(struct.pack("<H", entry.depth))
        out.append(struct.pack("<H", len(self.groups)))
        out.extend(group.to_bytes() for group in self.groups.values())
        return b"".join(out)

    @classmethod
    def read(cls, reader: Reader) -> FreezeTable:
        start = reader.pos
        oi, seq, count = _OBJECT_HEAD.unpack(reader.take(_OBJECT_HEAD.size))
        try:
            table = cls(FreezeObject(oi))
        except ValueError:
            raise reader.error(f"{oi:04X} is not a freeze object", start) from None
        table.seq = seq
        entries = []
        for _ in range(count):
            period = struct.unpack("<H", reader.take(2))[0]
            oad = OAD.read(reader)
            entries.append(FreezeAssociation(period, oad, struct.unpack("<H", reader.take(2))[0]))
        for _ in range(struct.unpack("<H", reader.take(2))[0]):
            group = Group.read(reader)
            table.groups[(group.period, group.depth)] = group
        if set(table.groups) != {(e.period, e.depth) for e in entries}:
            raise reader.error("freeze groups do not match the association table", start)
        table.associate(entries)
        return table
