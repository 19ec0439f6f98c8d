"""Pieces shared by many services: DAR, PIID, TimeTag, Get-Result, A-ResultNormal,
A-ResultRecord and FollowReport (DL/T 698.45-2017 clause 7.3 and Appendix A)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from wattguard.protocol.apdu._schema import (
    DATE_TIME_S,
    OAD_,
    TI_,
    U8,
    Structure,
    _Fn,
    f,
    optional,
    record,
    sequence_of,
    structure,
)
from wattguard.protocol.axdr import Reader, encode_length
from wattguard.protocol.data import RCSD, Data, encode_data, read_data
from wattguard.protocol.values import OAD, TI, DateTimeS

__all__ = [
    "DAR",
    "AResultNormal",
    "AResultRecord",
    "FollowReport",
    "TimeTag",
    "piid",
]


class DAR(enum.IntEnum):
    """Data access result (DL/T 698.45-2017 Appendix A, DAR)."""

    SUCCESS = 0
    HARDWARE_FAILURE = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    INTERFACE_CLASS_MISMATCH = 5
    OBJECT_NOT_EXIST = 6
    TYPE_MISMATCH = 7
    OUT_OF_RANGE = 8
    DATA_BLOCK_UNAVAILABLE = 9
    FRAGMENT_TRANSFER_CANCELLED = 10
    NOT_IN_FRAGMENT_TRANSFER = 11
    BLOCK_WRITE_CANCELLED = 12
    NOT_IN_BLOCK_WRITE = 13
    DATA_BLOCK_SEQUENCE_INVALID = 14
    PASSWORD_ERROR = 15
    RATE_CANNOT_CHANGE = 16
    YEAR_ZONES_EXCEEDED = 17
    DAY_SEGMENTS_EXCEEDED = 18
    TARIFFS_EXCEEDED = 19
    SECURITY_MISMATCH = 20
    DUPLICATE_RECHARGE = 21
    ESAM_VERIFICATION_FAILED = 22
    SECURITY_AUTHENTICATION_FAILED = 23
    CUSTOMER_NUMBER_MISMATCH = 24
    RECHARGE_COUNT_ERROR = 25
    PURCHASE_EXCEEDS_HOARDING = 26
    ADDRESS_ABNORMAL = 27
    SYMMETRIC_DECRYPTION_ERROR = 28
    ASYMMETRIC_DECRYPTION_ERROR = 29
    SIGNATURE_ERROR = 30
    METER_SUSPENDED = 31
    TIMESTAMP_INVALID = 32
    REQUEST_TIMEOUT = 33
    OTHER = 255


def _read_dar(reader: Reader) -> DAR | int:
    value = reader.u8()
    try:
        return DAR(value)
    except ValueError:
        return value  # a code this table does not name yet: kept, not refused


DAR_ = _Fn(_read_dar, lambda v: bytes((int(v),)), ("dar",))


def dar_or(codec: _Fn) -> _Fn:
    """CHOICE { DAR [0], <codec> [1] }: the value is a DAR (int) or the codec's value."""

    def read(reader: Reader) -> Any:
        start = reader.pos
        choice = reader.u8()
        if choice == 0:
            return _read_dar(reader)
        if choice == 1:
            return codec.read(reader)
        raise reader.error(f"choice must be 0 (DAR) or 1, not {choice}", start)

    def write(value: Any) -> bytes:
        if isinstance(value, int) and not isinstance(value, bool):
            return bytes((0, int(value)))
        return b"\x01" + codec.write(value)

    return _Fn(read, write, ("dar_or", codec))


def piid(number: int, priority: bool = False) -> int:
    """A PIID byte: service number 0-63 and the priority bit."""
    if not 0 <= number <= 63:
        raise ValueError("a service number is 0 to 63")
    return (priority << 7) | number


@structure
class TimeTag(Structure):
    """When a request was sent and how long it stays valid."""

    send_time: DateTimeS = f(DATE_TIME_S)
    valid_for: TI = f(TI_)


TIME_TAG = optional(record(TimeTag))


#: Get-Result ::= CHOICE { DAR [0], Data [1] }, as a DAR (int) or a Data.
GET_RESULT = dar_or(_Fn(read_data, encode_data, ("data",)))


@structure
class AResultNormal(Structure):
    """An attribute and what reading it gave: a Data, or a DAR when it failed."""

    oad: OAD = f(OAD_)
    result: Any = f(GET_RESULT)


@dataclass(frozen=True, slots=True)
class AResultRecord:
    """Records of an object: the columns asked for and, per row, one Data per column; or a
    DAR when it failed."""

    oad: OAD
    columns: RCSD
    result: tuple[tuple[Data, ...], ...] | DAR | int

    def to_bytes(self) -> bytes:
        head = self.oad.to_bytes() + self.columns.to_bytes()
        if not isinstance(self.result, tuple):
            return head + bytes((0, int(self.result)))
        width = len(self.columns.columns)
        if self.result and not width:
            raise ValueError("records need at least one column")
        for row in self.result:
            if len(row) != width:
                raise ValueError(f"a record row has {len(row)} values for {width} columns")
        rows = b"".join(encode_data(value) for row in self.result for value in row)
        return head + b"\x01" + encode_length(len(self.result)) + rows

    @classmethod
    def read(cls, reader: Reader) -> AResultRecord:
        oad = OAD.read(reader)
        columns = RCSD.read(reader)
        start = reader.pos
        choice = reader.u8()
        if choice == 0:
            return cls(oad, columns, _read_dar(reader))
        if choice != 1:
            raise reader.error(f"record result choice must be 0 or 1, not {choice}", start)
        count = reader.length()
        width = len(columns.columns)
        if count and not width:
            raise reader.error("records without columns", start)
        if count * width > reader.remaining():
            raise reader.error(f"{count} records cannot fit in {reader.remaining()} bytes")
        rows = tuple(tuple(read_data(reader) for _ in range(width)) for _ in range(count))
        return cls(oad, columns, rows)


A_RESULT_NORMAL = record(AResultNormal)
A_RESULT_RECORD = record(AResultRecord)


@dataclass(frozen=True, slots=True)
class FollowReport:
    """Reports piggy-backed on a response: normal results, or record results."""

    results: tuple[AResultNormal, ...] | tuple[AResultRecord, ...]

    def to_bytes(self) -> bytes:
        records = bool(self.results) and isinstance(self.results[0], AResultRecord)
        codec = sequence_of(A_RESULT_RECORD if records else A_RESULT_NORMAL)
        return (b"\x02" if records else b"\x01") + codec.write(self.results)

    @classmethod
    def read(cls, reader: Reader) -> FollowReport:
        start = reader.pos
        choice = reader.u8()
        if choice == 1:
            return cls(sequence_of(A_RESULT_NORMAL).read(reader))
        if choice == 2:
            return cls(sequence_of(A_RESULT_RECORD).read(reader))
        raise reader.error(f"FollowReport choice must be 1 or 2, not {choice}", start)


FOLLOW_REPORT = optional(record(FollowReport))


def _read_piid(reader: Reader) -> int:
    start = reader.pos
    value = reader.u8()
    if value & 0x40:
        raise reader.error("PIID bit 6 is reserved and must be 0", start)
    return value


def _write_piid(value: int) -> bytes:
    if value & 0x40 or not 0 <= value <= 0xFF:
        raise ValueError(f"PIID 0x{value:02X}: bit 6 is reserved")
    return bytes((value,))


#: PIID: bit 7 priority, bit 6 reserved, bits 0-5 service number.
PIID = _Fn(_read_piid, _write_piid, ("piid",))
#: PIID-ACD: as PIID, with bit 6 the "access demand" flag.
PIID_ACD = U8
