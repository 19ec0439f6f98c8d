"""REPORT-Notification (136) and REPORT-Response (8): what a meter or terminal reports on
its own, and the client's acknowledgement."""

from __future__ import annotations

from wattguard.protocol.apdu._schema import (
    OAD_,
    OCTETS,
    Structure,
    f,
    sequence_of,
    service,
)
from wattguard.protocol.apdu.common import (
    A_RESULT_NORMAL,
    A_RESULT_RECORD,
    FOLLOW_REPORT,
    PIID,
    PIID_ACD,
    TIME_TAG,
    AResultNormal,
    AResultRecord,
    FollowReport,
    TimeTag,
)
from wattguard.protocol.values import OAD

REPORT_RESPONSE = 8
REPORT_NOTIFICATION = 136


@service(REPORT_NOTIFICATION, 1)
class ReportNotificationList(Structure):
    """REPORT-Notification-List: attribute values a server reports on its own (a meter's new
    event log entries, for one)."""

    piid: int = f(PIID_ACD)
    results: tuple[AResultNormal, ...] = f(sequence_of(A_RESULT_NORMAL))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(REPORT_NOTIFICATION, 2)
class ReportNotificationRecordList(Structure):
    """REPORT-Notification-Record-List: records a server reports on its own."""

    piid: int = f(PIID_ACD)
    results: tuple[AResultRecord, ...] = f(sequence_of(A_RESULT_RECORD))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(REPORT_NOTIFICATION, 3)
class ReportNotificationTransData(Structure):
    """Transparent data received on a port (e.g. a meter's frame relayed by a terminal)."""

    piid: int = f(PIID_ACD)
    port: OAD = f(OAD_)
    data: tuple[bytes, ...] = f(sequence_of(OCTETS))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(REPORT_RESPONSE, 1)
class ReportResponseList(Structure):
    """REPORT-Response-List: the client acknowledges a REPORT-Notification-List, naming the
    OADs it received."""

    piid: int = f(PIID)
    oads: tuple[OAD, ...] = f(sequence_of(OAD_))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(REPORT_RESPONSE, 2)
class ReportResponseRecordList(Structure):
    """REPORT-Response-Record-List: the client acknowledges a REPORT-Notification-Record-List,
    naming the OADs it received."""

    piid: int = f(PIID)
    oads: tuple[OAD, ...] = f(sequence_of(OAD_))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(REPORT_RESPONSE, 3)
class ReportResponseTransData(Structure):
    """Acknowledges transparent data: the PIID alone, and the time tag of the report it
    acknowledges when that carried one (docs/protocol.md)."""

    piid: int = f(PIID)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
