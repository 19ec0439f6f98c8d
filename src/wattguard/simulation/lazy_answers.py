"""The lazy meters' everyday answers, encoded straight to bytes.

Theory of operation. A collection round asks every meter the same few things: a
GET-Request-Normal-List of registers, instantaneous values and the meter's date-time, and a
GET-Request-Record of the 15-minute curve (or daily freeze) over selector 2.
:class:`~wattguard.simulation.lazy_server.LazyServer` answers anything by building the APDU's
objects (``Data``, ``AResultNormal``, ...) and encoding them; here those two answers are
written directly from the fleet's numbers, with the A-XDR of each value (DL/T 698.45-2017
clause 7.3, A-XDR of clause 7.2) laid down byte by byte, and their values handed to the
:class:`~wattguard.simulation.ledger.ReadingLedger` as integers. The bytes are the very bytes
the generic path writes (``tests/simulation/test_lazy_answers.py`` holds the two equal over
many meters and times); the MAC is computed over them as over any answer. A request of any
other shape (an element index, another object, a DAR to give) returns None, and the generic
path answers it.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from wattguard.meter.management.records import MAX_ANSWER_BYTES
from wattguard.protocol import OAD
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRecord, GetRequestNormalList, GetRequestRecord
from wattguard.protocol.axdr import encode_length
from wattguard.protocol.data import RCSD
from wattguard.protocol.values import DateTimeS
from wattguard.simulation.lazy_fleet import LazyFleet
from wattguard.simulation.ledger import ReadingLedger

__all__ = ["fast_answer"]


class LazyServer(Protocol):
    """What the fast path needs of :class:`~wattguard.simulation.lazy_server.LazyServer`
    (named here by its shape: the server imports this module, not the other way round)."""

    fleet: LazyFleet
    ledger: ReadingLedger | None

    def _records(
        self, meter: int, oad: OAD, selector: int, fields: tuple[object, ...]
    ) -> tuple[tuple[float, NDArray[np.float64]], ...] | DAR: ...


_FREEZE_TIME = OAD(0x2021, 2, 0)
_ROWS = {0x0010: 0, 0x0020: 1}
_WS_PER_UNIT = {2: 36_000.0, 4: 360.0}
_LIMIT = {2: 2**32, 4: 2**64}
_TAG = {2: struct.Struct(">BI"), 4: struct.Struct(">BQ")}
_TAG_BYTE = {2: 0x06, 4: 0x15}  # double-long-unsigned, long64-unsigned
_VOLTAGE = struct.Struct(">BBBH")  # array of one long-unsigned
_CURRENT = struct.Struct(">BBBi")  # array of one double-long
_POWER = struct.Struct(">BBBiBi")  # array of two double-long
_NORMAL_LIST = b"\x85\x02"
_RECORD = b"\x85\x03"
_NO_FOLLOW_NO_TAG = b"\x00\x00"

#: What a column or an attribute is: ("energy", row, attribute), ("time",), ("now",),
#: ("address",), ("voltage",), ("current",), ("power",).
_Kind = tuple[object, ...]


def fast_answer(server: LazyServer, meter: int, apdu: object, now: float) -> bytes | None:
    """The plain answer of meter ``meter`` to ``apdu`` as bytes, its values counted in the
    server's ledger (None: not an everyday request; answer it the generic way)."""
    if type(apdu) is GetRequestNormalList:
        return _normal_list(server, meter, apdu, now)
    if type(apdu) is GetRequestRecord:
        return _record(server, meter, apdu)
    return None


def _normal_list(
    server: LazyServer, meter: int, apdu: GetRequestNormalList, now: float
) -> bytes | None:
    kinds = _normal_kinds(apdu.oads)
    if kinds is None:
        return None
    fleet = server.fleet
    out = [_NORMAL_LIST, bytes((apdu.piid,)), encode_length(len(kinds))]
    counted: list[tuple[OAD, list[int]]] = []
    stamped = False
    instant: tuple[float, float, float, float] | None = None
    for oad, kind in zip(apdu.oads, kinds, strict=True):
        out.append(oad.to_bytes() + b"\x01")
        what = kind[0]
        if what == "energy":
            row, attribute = kind[1], kind[2]
            assert isinstance(row, int) and isinstance(attribute, int)
            values = _units(fleet.registers(meter)[row].tolist(), attribute)
            out.append(_energy_bytes(values, attribute))
            counted.append((oad, values))
        elif what == "now":
            out.append(_date_time(math.floor(now)))
            stamped = True
        elif what == "address":
            out.append(b"\x09\x06" + fleet.address(meter))
        else:
            if instant is None:
                instant = fleet.instantaneous(meter)
            voltage, current, active, _ = instant
            if what == "voltage":
                volts = round(voltage * 10)
                out.append(_VOLTAGE.pack(1, 1, 0x12, volts))
                counted.append((oad, [volts]))
            elif what == "current":
                amps = round(current * 1000)
                out.append(_CURRENT.pack(1, 1, 0x05, amps))
                counted.append((oad, [amps]))
            else:
                watts = round(active * 10)
                out.append(_POWER.pack(1, 2, 0x05, watts, 0x05, watts))
                counted.append((oad, [watts, watts]))
    out.append(_NO_FOLLOW_NO_TAG)
    if server.ledger is not None and stamped:
        server.ledger.served_now(meter, math.floor(now), counted)
    return b"".join(out)


def _record(server: LazyServer, meter: int, apdu: GetRequestRecord) -> bytes | None:
    record: GetRecord = apdu.record
    kinds = _column_kinds(record.columns)
    if kinds is None:
        return None
    rows = server._records(meter, record.oad, record.rows.selector, record.rows.fields)
    if isinstance(rows, DAR):
        return None
    head = record.oad.to_bytes() + _rcsd_bytes(record.columns)
    size = len(head) + 1 + len(encode_length(len(rows)))
    encoded: list[bytes] = []
    counted: list[tuple[int, list[tuple[OAD, list[int]]]]] = []
    for t, registers in rows:
        parts: list[bytes] = []
        values: list[tuple[OAD, list[int]]] = []
        for csd, kind in zip(record.columns.columns, kinds, strict=True):
            if kind[0] == "time":
                parts.append(_date_time(int(t)))
                continue
            row, attribute = kind[1], kind[2]
            assert isinstance(row, int) and isinstance(attribute, int)
            units = _units(registers[row].tolist(), attribute)
            parts.append(_energy_bytes(units, attribute))
            column = csd.column
            assert isinstance(column, OAD)
            values.append((column, units))
        row_bytes = b"".join(parts)
        size += len(row_bytes)
        if encoded and size > MAX_ANSWER_BYTES:
            break
        encoded.append(row_bytes)
        counted.append((math.floor(t), values))
    if server.ledger is not None and ("time",) in kinds:
        server.ledger.served_rows(meter, f"{record.oad}/", counted)
    return b"".join(
        [_RECORD, bytes((apdu.piid,)), head, b"\x01", encode_length(len(encoded)), *encoded,
         _NO_FOLLOW_NO_TAG]
    )  # fmt: skip


def _units(registers: list[float], attribute: int) -> list[int]:
    """A register row (total, tariffs) as the meter carries it: truncated, never rounded up."""
    unit, limit = _WS_PER_UNIT[attribute], _LIMIT[attribute]
    return [int(ws // unit) % limit for ws in registers]


def _energy_bytes(values: list[int], attribute: int) -> bytes:
    pack, tag = _TAG[attribute].pack, _TAG_BYTE[attribute]
    return bytes((0x01, len(values))) + b"".join([pack(tag, v) for v in values])


@lru_cache(maxsize=4096)
def _date_time(posix: int) -> bytes:
    return b"\x1c" + DateTimeS.from_posix(posix).to_bytes()


@lru_cache(maxsize=64)
def _rcsd_bytes(columns: RCSD) -> bytes:
    return columns.to_bytes()


def _energy_kind(oad: OAD) -> _Kind | None:
    if oad.oi in _ROWS and oad.attribute in _WS_PER_UNIT and not oad.element:
        return ("energy", _ROWS[oad.oi], oad.attribute)
    return None


_NAMED: dict[int, _Kind] = {
    0x4000: ("now",),
    0x4001: ("address",),
    0x2000: ("voltage",),
    0x2001: ("current",),
    0x2004: ("power",),
}


@lru_cache(maxsize=64)
def _normal_kinds(oads: tuple[OAD, ...]) -> tuple[_Kind, ...] | None:
    kinds = []
    for oad in oads:
        kind = _energy_kind(oad)
        if kind is None and oad.attribute == 2 and not oad.element and not oad.feature:
            kind = _NAMED.get(oad.oi)
        if kind is None:
            return None
        kinds.append(kind)
    return tuple(kinds)


@lru_cache(maxsize=64)
def _column_kinds(columns: RCSD) -> tuple[_Kind, ...] | None:
    kinds = []
    for csd in columns.columns:
        column = csd.column
        if not isinstance(column, OAD):
            return None
        kind = ("time",) if column == _FREEZE_TIME else _energy_kind(column)
        if kind is None:
            return None
        kinds.append(kind)
    return tuple(kinds)
