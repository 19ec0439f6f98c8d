"""SET-Request (6) and SET-Response (134)."""

from __future__ import annotations

from typing import Any

from wattguard.protocol.apdu._schema import (
    DATA,
    OAD_,
    U8,
    Structure,
    f,
    record,
    sequence_of,
    service,
    structure,
)
from wattguard.protocol.apdu.common import (
    DAR_,
    FOLLOW_REPORT,
    GET_RESULT,
    PIID,
    PIID_ACD,
    TIME_TAG,
    FollowReport,
    TimeTag,
)
from wattguard.protocol.data import Data
from wattguard.protocol.values import OAD

SET_REQUEST = 6
SET_RESPONSE = 134


@structure
class SetItem(Structure):
    """One attribute to write in a SET-Request-Normal-List: its OAD and the new value."""

    oad: OAD = f(OAD_)
    data: Data = f(DATA)


@structure
class SetThenGetItem(Structure):
    """One attribute to write, then one (``read_oad``) to read ``delay`` later, in a
    SET-Then-GET-Request-Normal-List."""

    oad: OAD = f(OAD_)
    data: Data = f(DATA)
    read_oad: OAD = f(OAD_)
    delay: int = f(U8)


@structure
class SetResult(Structure):
    """What writing one attribute gave: its DAR."""

    oad: OAD = f(OAD_)
    dar: int = f(DAR_)


@structure
class SetThenGetResult(Structure):
    """What one write gave (its DAR) and what reading ``read_oad`` after it gave (a Data or a
    DAR)."""

    oad: OAD = f(OAD_)
    dar: int = f(DAR_)
    read_oad: OAD = f(OAD_)
    result: Any = f(GET_RESULT)


@service(SET_REQUEST, 1)
class SetRequestNormal(Structure):
    """SET-Request-Normal: write one attribute."""

    piid: int = f(PIID)
    oad: OAD = f(OAD_)
    data: Data = f(DATA)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(SET_REQUEST, 2)
class SetRequestNormalList(Structure):
    """SET-Request-Normal-List: write several attributes in one request."""

    piid: int = f(PIID)
    items: tuple[SetItem, ...] = f(sequence_of(record(SetItem)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(SET_REQUEST, 3)
class SetThenGetRequestNormalList(Structure):
    """SET-Then-GET-Request-Normal-List: write attributes, each followed by a read."""

    piid: int = f(PIID)
    items: tuple[SetThenGetItem, ...] = f(sequence_of(record(SetThenGetItem)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(SET_RESPONSE, 1)
class SetResponseNormal(Structure):
    """SET-Response-Normal: the DAR of writing one attribute."""

    piid: int = f(PIID_ACD)
    oad: OAD = f(OAD_)
    dar: int = f(DAR_)
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(SET_RESPONSE, 2)
class SetResponseNormalList(Structure):
    """SET-Response-Normal-List: the DAR of each attribute written."""

    piid: int = f(PIID_ACD)
    results: tuple[SetResult, ...] = f(sequence_of(record(SetResult)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(SET_RESPONSE, 3)
class SetThenGetResponseNormalList(Structure):
    """SET-Then-GET-Response-Normal-List: each write's DAR and the read that followed it."""

    piid: int = f(PIID_ACD)
    results: tuple[SetThenGetResult, ...] = f(sequence_of(record(SetThenGetResult)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
