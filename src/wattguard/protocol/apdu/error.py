"""ERROR-Response (238): the answer to an APDU the server could not decode or serve."""

from __future__ import annotations

import enum

from wattguard.protocol.apdu._schema import Structure, enum_of, f, service
from wattguard.protocol.apdu.common import (
    FOLLOW_REPORT,
    PIID,
    TIME_TAG,
    FollowReport,
    TimeTag,
)

ERROR_RESPONSE = 238


class ErrorType(enum.IntEnum):
    """Why a server answers ERROR-Response: the APDU could not be decoded, the service is not
    supported, or some other reason."""

    APDU_UNDECODABLE = 1
    SERVICE_UNSUPPORTED = 2
    OTHER = 255


@service(ERROR_RESPONSE)
class ErrorResponse(Structure):
    """ERROR-Response: the answer to an APDU the server could not decode or serve."""

    piid: int = f(PIID)
    error: ErrorType = f(enum_of(ErrorType))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)
