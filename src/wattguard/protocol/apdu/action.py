"""ACTION-Request (7) and ACTION-Response (135)."""

from __future__ import annotations

from typing import Any

from wattguard.protocol.apdu._schema import (
    DATA,
    OAD_,
    OMD_,
    U8,
    Structure,
    f,
    optional,
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
from wattguard.protocol.values import OAD, OMD

ACTION_REQUEST = 7
ACTION_RESPONSE = 135


@structure
class ActionItem(Structure):
    """One method to call in an ACTION-Request-List: the method (OMD) and its parameter."""

    omd: OMD = f(OMD_)
    data: Data = f(DATA)


@structure
class ActionThenGetItem(Structure):
    """One method to call, then an attribute (``read_oad``) to read ``delay`` later, in an
    ACTION-Then-GET-Request-Normal-List."""

    omd: OMD = f(OMD_)
    data: Data = f(DATA)
    read_oad: OAD = f(OAD_)
    delay: int = f(U8)


@structure
class ActionResult(Structure):
    """What one method call gave: its DAR and, optionally, the data it returned."""

    omd: OMD = f(OMD_)
    dar: int = f(DAR_)
    data: Data | None = f(optional(DATA), default=None)


@structure
class ActionThenGetResult(Structure):
    """What one method call gave (DAR, optional data) and what reading ``read_oad`` after it
    gave (a Data or a DAR)."""

    omd: OMD = f(OMD_)
    dar: int = f(DAR_)
    data: Data | None = f(optional(DATA))
    read_oad: OAD = f(OAD_)
    result: Any = f(GET_RESULT)


@service(ACTION_REQUEST, 1)
class ActionRequest(Structure):
    """ACTION-Request (choice 1): call one method (OMD) with its parameter."""

    piid: int = f(PIID)
    omd: OMD = f(OMD_)
    data: Data = f(DATA)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(ACTION_REQUEST, 2)
class ActionRequestList(Structure):
    """ACTION-Request-List: call several methods in one request."""

    piid: int = f(PIID)
    items: tuple[ActionItem, ...] = f(sequence_of(record(ActionItem)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(ACTION_REQUEST, 3)
class ActionThenGetRequestNormalList(Structure):
    """ACTION-Then-GET-Request-Normal-List: call methods, each followed by a read of an
    attribute."""

    piid: int = f(PIID)
    items: tuple[ActionThenGetItem, ...] = f(sequence_of(record(ActionThenGetItem)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(ACTION_RESPONSE, 1)
class ActionResponseNormal(Structure):
    """ACTION-Response-Normal: the result of one method call."""

    piid: int = f(PIID_ACD)
    result: ActionResult = f(record(ActionResult))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(ACTION_RESPONSE, 2)
class ActionResponseNormalList(Structure):
    """ACTION-Response-Normal-List: the result of each method called."""

    piid: int = f(PIID_ACD)
    results: tuple[ActionResult, ...] = f(sequence_of(record(ActionResult)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(ACTION_RESPONSE, 3)
class ActionThenGetResponseNormalList(Structure):
    """ACTION-Then-GET-Response-Normal-List: each method's result and the read that followed
    it."""

    piid: int = f(PIID_ACD)
    results: tuple[ActionThenGetResult, ...] = f(sequence_of(record(ActionThenGetResult)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
