"""PROXY-Request (9) and PROXY-Response (137): a terminal reading, setting or acting on the
meters behind it for the station, and transparent forwarding of whole frames to a port."""

from __future__ import annotations

from typing import Any

from wattguard.protocol.apdu._schema import (
    COMDCB_,
    DATA,
    OAD_,
    OCTETS,
    OMD_,
    RCSD_,
    RSD_,
    TSA_,
    U16,
    Structure,
    f,
    optional,
    record,
    sequence_of,
    service,
    structure,
)
from wattguard.protocol.apdu.action import ActionItem, ActionThenGetItem
from wattguard.protocol.apdu.common import (
    A_RESULT_NORMAL,
    DAR_,
    FOLLOW_REPORT,
    GET_RESULT,
    PIID,
    PIID_ACD,
    TIME_TAG,
    AResultNormal,
    AResultRecord,
    FollowReport,
    TimeTag,
    dar_or,
)
from wattguard.protocol.apdu.set import SetItem, SetResult, SetThenGetItem, SetThenGetResult
from wattguard.protocol.data import RCSD, RSD, Data
from wattguard.protocol.values import COMDCB, OAD, OMD, TSA

PROXY_REQUEST = 9
PROXY_RESPONSE = 137


@structure
class ProxyGetTarget(Structure):
    """One meter (TSA) in a PROXY-GetRequestList: its timeout and the attributes to read."""

    tsa: TSA = f(TSA_)
    timeout: int = f(U16)
    oads: tuple[OAD, ...] = f(sequence_of(OAD_))


@structure
class ProxySetTarget(Structure):
    """One meter in a PROXY-SetRequestList: its timeout and the attributes to write."""

    tsa: TSA = f(TSA_)
    timeout: int = f(U16)
    items: tuple[SetItem, ...] = f(sequence_of(record(SetItem)))


@structure
class ProxySetThenGetTarget(Structure):
    """One meter in a PROXY-SetThenGetRequestList: its timeout and the writes, each followed by
    a read."""

    tsa: TSA = f(TSA_)
    timeout: int = f(U16)
    items: tuple[SetThenGetItem, ...] = f(sequence_of(record(SetThenGetItem)))


@structure
class ProxyActionTarget(Structure):
    """One meter in a PROXY-ActionRequestList: its timeout and the methods to call."""

    tsa: TSA = f(TSA_)
    timeout: int = f(U16)
    items: tuple[ActionItem, ...] = f(sequence_of(record(ActionItem)))


@structure
class ProxyActionThenGetTarget(Structure):
    """One meter in a PROXY-ActionThenGetRequestList: its timeout and the calls, each followed
    by a read."""

    tsa: TSA = f(TSA_)
    timeout: int = f(U16)
    items: tuple[ActionThenGetItem, ...] = f(sequence_of(record(ActionThenGetItem)))


@service(PROXY_REQUEST, 1)
class ProxyGetRequestList(Structure):
    """PROXY-GetRequestList: read attributes of several meters behind a terminal, with a
    timeout for the whole request and one per meter."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    targets: tuple[ProxyGetTarget, ...] = f(sequence_of(record(ProxyGetTarget)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 2)
class ProxyGetRequestRecord(Structure):
    """PROXY-GetRequestRecord: read rows and columns of one record object of one meter."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    tsa: TSA = f(TSA_)
    oad: OAD = f(OAD_)
    rows: RSD = f(RSD_)
    columns: RCSD = f(RCSD_)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 3)
class ProxySetRequestList(Structure):
    """PROXY-SetRequestList: write attributes of several meters behind a terminal."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    targets: tuple[ProxySetTarget, ...] = f(sequence_of(record(ProxySetTarget)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 4)
class ProxySetThenGetRequestList(Structure):
    """PROXY-SetThenGetRequestList: write attributes of several meters, each write followed by
    a read."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    targets: tuple[ProxySetThenGetTarget, ...] = f(sequence_of(record(ProxySetThenGetTarget)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 5)
class ProxyActionRequestList(Structure):
    """PROXY-ActionRequestList: call methods of several meters behind a terminal."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    targets: tuple[ProxyActionTarget, ...] = f(sequence_of(record(ProxyActionTarget)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 6)
class ProxyActionThenGetRequestList(Structure):
    """PROXY-ActionThenGetRequestList: call methods of several meters, each call followed by a
    read."""

    piid: int = f(PIID)
    timeout: int = f(U16)
    targets: tuple[ProxyActionThenGetTarget, ...] = f(sequence_of(record(ProxyActionThenGetTarget)))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_REQUEST, 7)
class ProxyTransCommandRequest(Structure):
    """Forward ``command`` (a whole frame) out of ``port`` and return what comes back."""

    piid: int = f(PIID)
    port: OAD = f(OAD_)
    settings: COMDCB = f(COMDCB_)
    frame_timeout: int = f(U16)
    byte_timeout: int = f(U16)
    command: bytes = f(OCTETS)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@structure
class ProxyGetAnswer(Structure):
    """One meter's part of a PROXY-GetResponseList: a value or a DAR per attribute read."""

    tsa: TSA = f(TSA_)
    results: tuple[AResultNormal, ...] = f(sequence_of(A_RESULT_NORMAL))


@structure
class ProxySetAnswer(Structure):
    """One meter's part of a PROXY-SetResponseList: a DAR per attribute written."""

    tsa: TSA = f(TSA_)
    results: tuple[SetResult, ...] = f(sequence_of(record(SetResult)))


@structure
class ProxySetThenGetAnswer(Structure):
    """One meter's part of a PROXY-SetThenGetResponseList: each write's DAR and the read after
    it."""

    tsa: TSA = f(TSA_)
    results: tuple[SetThenGetResult, ...] = f(sequence_of(record(SetThenGetResult)))


@structure
class ProxyActionResult(Structure):
    """What one method call through the proxy gave: its DAR and, optionally, the data returned."""

    omd: OMD = f(OMD_)
    dar: int = f(DAR_)
    data: Data | None = f(optional(DATA), default=None)


@structure
class ProxyActionAnswer(Structure):
    """One meter's part of a PROXY-ActionResponseList: a result per method called."""

    tsa: TSA = f(TSA_)
    results: tuple[ProxyActionResult, ...] = f(sequence_of(record(ProxyActionResult)))


@structure
class ProxyActionThenGetResult(Structure):
    """What one method call through the proxy gave, and what the read after it gave."""

    omd: OMD = f(OMD_)
    dar: int = f(DAR_)
    data: Data | None = f(optional(DATA))
    read_oad: OAD = f(OAD_)
    result: Any = f(GET_RESULT)


@structure
class ProxyActionThenGetAnswer(Structure):
    """One meter's part of a PROXY-ActionThenGetResponseList: each call's result and the read
    after it."""

    tsa: TSA = f(TSA_)
    results: tuple[ProxyActionThenGetResult, ...] = f(sequence_of(record(ProxyActionThenGetResult)))


@service(PROXY_RESPONSE, 1)
class ProxyGetResponseList(Structure):
    """PROXY-GetResponseList: each meter's answer to a PROXY-GetRequestList."""

    piid: int = f(PIID_ACD)
    answers: tuple[ProxyGetAnswer, ...] = f(sequence_of(record(ProxyGetAnswer)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 2)
class ProxyGetResponseRecord(Structure):
    """PROXY-GetResponseRecord: the rows read from one meter's record object, or a DAR."""

    piid: int = f(PIID_ACD)
    tsa: TSA = f(TSA_)
    result: AResultRecord = f(record(AResultRecord))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 3)
class ProxySetResponseList(Structure):
    """PROXY-SetResponseList: each meter's answer to a PROXY-SetRequestList."""

    piid: int = f(PIID_ACD)
    answers: tuple[ProxySetAnswer, ...] = f(sequence_of(record(ProxySetAnswer)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 4)
class ProxySetThenGetResponseList(Structure):
    """PROXY-SetThenGetResponseList: each meter's answer to a PROXY-SetThenGetRequestList."""

    piid: int = f(PIID_ACD)
    answers: tuple[ProxySetThenGetAnswer, ...] = f(sequence_of(record(ProxySetThenGetAnswer)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 5)
class ProxyActionResponseList(Structure):
    """PROXY-ActionResponseList: each meter's answer to a PROXY-ActionRequestList."""

    piid: int = f(PIID_ACD)
    answers: tuple[ProxyActionAnswer, ...] = f(sequence_of(record(ProxyActionAnswer)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 6)
class ProxyActionThenGetResponseList(Structure):
    """PROXY-ActionThenGetResponseList: each meter's answer to a
    PROXY-ActionThenGetRequestList."""

    piid: int = f(PIID_ACD)
    answers: tuple[ProxyActionThenGetAnswer, ...] = f(sequence_of(record(ProxyActionThenGetAnswer)))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(PROXY_RESPONSE, 7)
class ProxyTransCommandResponse(Structure):
    """PROXY-TransCommandResponse: what came back on the port for a forwarded frame, or a DAR."""

    piid: int = f(PIID_ACD)
    port: OAD = f(OAD_)
    answer: Any = f(dar_or(OCTETS))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
