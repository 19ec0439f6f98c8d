"""GET-Request (5) and GET-Response (133), DL/T 698.45-2017 clause 7.3.? (Appendix A.6)."""

from __future__ import annotations

from typing import Any

from wattguard.protocol.apdu._schema import (
    BOOL,
    OAD_,
    OCTETS,
    RCSD_,
    RSD_,
    U16,
    Structure,
    _Fn,
    f,
    record,
    sequence_of,
    service,
    structure,
)
from wattguard.protocol.apdu.common import (
    A_RESULT_NORMAL,
    A_RESULT_RECORD,
    DAR_,
    FOLLOW_REPORT,
    PIID,
    PIID_ACD,
    TIME_TAG,
    AResultNormal,
    AResultRecord,
    FollowReport,
    TimeTag,
    dar_or,
)
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import RCSD, RSD
from wattguard.protocol.values import OAD

GET_REQUEST = 5
GET_RESPONSE = 133


@structure
class GetRecord(Structure):
    """What to read from a record object: which rows (RSD) and which columns (RCSD)."""

    oad: OAD = f(OAD_)
    rows: RSD = f(RSD_)
    columns: RCSD = f(RCSD_)


@service(GET_REQUEST, 1)
class GetRequestNormal(Structure):
    """GET-Request-Normal: read one attribute (OAD)."""

    piid: int = f(PIID)
    oad: OAD = f(OAD_)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_REQUEST, 2)
class GetRequestNormalList(Structure):
    """GET-Request-Normal-List: read several attributes in one request."""

    piid: int = f(PIID)
    oads: tuple[OAD, ...] = f(sequence_of(OAD_))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_REQUEST, 3)
class GetRequestRecord(Structure):
    """GET-Request-Record: read rows and columns of one record object (a freeze, for one)."""

    piid: int = f(PIID)
    record: GetRecord = f(record(GetRecord))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_REQUEST, 4)
class GetRequestRecordList(Structure):
    """GET-Request-Record-List: read rows and columns of several record objects."""

    piid: int = f(PIID)
    records: tuple[GetRecord, ...] = f(sequence_of(record(GetRecord)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_REQUEST, 5)
class GetRequestNext(Structure):
    """Ask for the block after ``last_block`` of a response sent in application blocks."""

    piid: int = f(PIID)
    last_block: int = f(U16)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_REQUEST, 6)
class GetRequestMD5(Structure):
    """GET-Request-MD5: ask for the MD5 digest of one attribute's value."""

    piid: int = f(PIID)
    oad: OAD = f(OAD_)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_RESPONSE, 1)
class GetResponseNormal(Structure):
    """GET-Response-Normal: one attribute's value, or the DAR that says why not."""

    piid: int = f(PIID_ACD)
    result: AResultNormal = f(A_RESULT_NORMAL)
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_RESPONSE, 2)
class GetResponseNormalList(Structure):
    """GET-Response-Normal-List: a value or a DAR for each attribute asked for."""

    piid: int = f(PIID_ACD)
    results: tuple[AResultNormal, ...] = f(sequence_of(A_RESULT_NORMAL))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_RESPONSE, 3)
class GetResponseRecord(Structure):
    """GET-Response-Record: the rows read from one record object, or a DAR."""

    piid: int = f(PIID_ACD)
    result: AResultRecord = f(A_RESULT_RECORD)
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_RESPONSE, 4)
class GetResponseRecordList(Structure):
    """GET-Response-Record-List: the rows (or a DAR) of each record object asked for."""

    piid: int = f(PIID_ACD)
    results: tuple[AResultRecord, ...] = f(sequence_of(A_RESULT_RECORD))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


def _read_next_answer(reader: Reader) -> Any:
    start = reader.pos
    choice = reader.u8()
    if choice == 0:
        return DAR_.read(reader)
    if choice == 1:
        return sequence_of(A_RESULT_NORMAL).read(reader)
    if choice == 2:
        return sequence_of(A_RESULT_RECORD).read(reader)
    raise reader.error(f"GetResponseNext answer choice must be 0-2, not {choice}", start)


def _write_next_answer(value: Any) -> bytes:
    if not isinstance(value, tuple):
        return bytes((0, int(value)))
    if value and isinstance(value[0], AResultRecord):
        return b"\x02" + sequence_of(A_RESULT_RECORD).write(value)
    return b"\x01" + sequence_of(A_RESULT_NORMAL).write(value)


@service(GET_RESPONSE, 5)
class GetResponseNext(Structure):
    """One application block: a DAR, normal results, or record results."""

    piid: int = f(PIID_ACD)
    last_block: bool = f(BOOL)
    block_number: int = f(U16)
    answer: Any = f(_Fn(_read_next_answer, _write_next_answer, ("next_answer",)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(GET_RESPONSE, 6)
class GetResponseMD5(Structure):
    """GET-Response-MD5: the MD5 digest of an attribute's value, or a DAR."""

    piid: int = f(PIID_ACD)
    oad: OAD = f(OAD_)
    answer: Any = f(dar_or(OCTETS))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
