"""CONNECT (2/130), RELEASE (3/131/132) and LINK (1/129): application association and the
terminal's login and heartbeat."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wattguard.protocol.apdu._schema import (
    DATE_TIME,
    DATE_TIME_S,
    OCTETS,
    U8,
    U16,
    U32,
    Structure,
    _Fn,
    enum_of,
    f,
    fixed,
    fixed_text,
    optional,
    record,
    service,
    structure,
)
from wattguard.protocol.apdu.common import (
    FOLLOW_REPORT,
    PIID,
    PIID_ACD,
    TIME_TAG,
    FollowReport,
    TimeTag,
)
from wattguard.protocol.axdr import Reader, encode_length
from wattguard.protocol.data import visible_text, write_visible
from wattguard.protocol.values import DateTime, DateTimeS

CONNECT_REQUEST = 2
CONNECT_RESPONSE = 130
RELEASE_REQUEST = 3
RELEASE_RESPONSE = 131
RELEASE_NOTIFICATION = 132
LINK_REQUEST = 1
LINK_RESPONSE = 129


class Mechanism(enum.IntEnum):
    """ConnectMechanismInfo choices."""

    NULL = 0
    PASSWORD = 1
    SYMMETRIC = 2
    SIGNATURE = 3


@dataclass(frozen=True, slots=True)
class ConnectMechanism:
    """How the client authenticates: nothing, a password, or ciphertext + signature (the
    symmetric and signature mechanisms carry the same two octet-strings)."""

    mechanism: Mechanism = Mechanism.NULL
    password: str = ""
    ciphertext: bytes = b""
    signature: bytes = b""

    def to_bytes(self) -> bytes:
        if self.mechanism == Mechanism.NULL:
            return b"\x00"
        if self.mechanism == Mechanism.PASSWORD:
            raw = write_visible(self.password)
            return b"\x01" + encode_length(len(raw)) + raw
        return (
            bytes((self.mechanism,)) + OCTETS.write(self.ciphertext) + OCTETS.write(self.signature)
        )

    @classmethod
    def read(cls, reader: Reader) -> ConnectMechanism:
        start = reader.pos
        try:
            mechanism = Mechanism(reader.u8())
        except ValueError:
            raise reader.error("unknown connect mechanism", start) from None
        if mechanism == Mechanism.NULL:
            return cls()
        if mechanism == Mechanism.PASSWORD:
            raw_start = reader.pos
            raw = reader.take(reader.length())
            return cls(mechanism, password=visible_text(raw, reader, raw_start))
        return cls(mechanism, ciphertext=OCTETS.read(reader), signature=OCTETS.read(reader))


class ConnectResult(enum.IntEnum):
    """The server's verdict on a CONNECT-Request (in ConnectResponseInfo)."""

    ACCEPTED = 0
    PASSWORD_ERROR = 1
    SYMMETRIC_DECRYPTION_ERROR = 2
    ASYMMETRIC_DECRYPTION_ERROR = 3
    SIGNATURE_ERROR = 4
    VERSION_MISMATCH = 5
    OTHER = 255


@structure
class SecurityData(Structure):
    """The server's random number and signature in a CONNECT-Response."""

    server_random: bytes = f(OCTETS)
    signature: bytes = f(OCTETS)


@structure
class ConnectResponseInfo(Structure):
    """Whether the server accepted the association and, when the mechanism calls for it, its
    random number and signature."""

    result: ConnectResult = f(enum_of(ConnectResult))
    security: SecurityData | None = f(optional(record(SecurityData)), default=None)


@structure
class FactoryVersion(Structure):
    """The server's vendor code, its software and hardware versions and dates, and a vendor
    extension, in a CONNECT-Response (every field of fixed size)."""

    vendor: str = f(fixed_text(4))
    software_version: str = f(fixed_text(4))
    software_date: str = f(fixed_text(6))
    hardware_version: str = f(fixed_text(4))
    hardware_date: str = f(fixed_text(6))
    extension: bytes = f(fixed(8))  # vendor's extension: raw bytes (zeros in Appendix D.2)


@structure
class Negotiation(Structure):
    """What both sides state in CONNECT: version, conformance blocks and sizes."""

    version: int = f(U16)
    protocol_conformance: bytes = f(fixed(8))
    function_conformance: bytes = f(fixed(16))
    send_max: int = f(U16)
    receive_max: int = f(U16)
    window: int = f(U8)
    apdu_max: int = f(U16)
    timeout: int = f(U32)


@service(CONNECT_REQUEST)
class ConnectRequest(Structure):
    """CONNECT-Request: open an application association, stating what the client supports and
    how it authenticates."""

    piid: int = f(PIID)
    negotiation: Negotiation = f(record(Negotiation))
    mechanism: ConnectMechanism = f(record(ConnectMechanism))
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(CONNECT_RESPONSE)
class ConnectResponse(Structure):
    """CONNECT-Response: the server's versions, its side of the negotiation and its verdict."""

    piid: int = f(PIID_ACD)
    factory: FactoryVersion = f(record(FactoryVersion))
    negotiation: Negotiation = f(record(Negotiation))
    info: ConnectResponseInfo = f(record(ConnectResponseInfo))
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(RELEASE_REQUEST)
class ReleaseRequest(Structure):
    """RELEASE-Request: the client ends the application association."""

    piid: int = f(PIID)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(RELEASE_RESPONSE)
class ReleaseResponse(Structure):
    """RELEASE-Response: the server confirms the association is ended (``result`` 0: success)."""

    piid: int = f(PIID_ACD)
    result: int = f(U8)
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


@service(RELEASE_NOTIFICATION)
class ReleaseNotification(Structure):
    """RELEASE-Notification: the server ends the association on its own and tells the client,
    with when the association was opened and the server's time now."""

    piid: int = f(PIID_ACD)
    connected_at: DateTimeS = f(DATE_TIME_S)
    now: DateTimeS = f(DATE_TIME_S)
    follow_report: FollowReport | None = f(FOLLOW_REPORT, default=None)
    time_tag: TimeTag | None = f(TIME_TAG, default=None)


class LinkRequestType(enum.IntEnum):
    """What a LINK-Request does: log in, beat the heart, or log out."""

    LOGIN = 0
    HEARTBEAT = 1
    LOGOUT = 2


@service(LINK_REQUEST)
class LinkRequest(Structure):
    """A terminal (or meter) logging in, beating its heart or logging out."""

    piid: int = f(PIID_ACD)
    type: LinkRequestType = f(enum_of(LinkRequestType))
    heartbeat: int = f(U16)
    time: DateTime = f(DATE_TIME)


def _read_link_result(reader: Reader) -> int:
    start = reader.pos
    value = reader.u8()
    if value & 0x78 or value & 0x07 > 2:
        raise reader.error(f"LINK result 0x{value:02X}: reserved bits or unknown result", start)
    return value


def _write_link_result(value: int) -> bytes:
    if value & 0x78 or value & 0x07 > 2 or not 0 <= value <= 0xFF:
        raise ValueError(f"LINK result 0x{value:02X}: reserved bits or unknown result")
    return bytes((value,))


#: LINK result, a bit-string(SIZE(8)): bit 7 "clock trusted", bits 3-6 reserved, bits 0-2
#: the result (0 success, 1 address repeated, 2 illegal device).
LINK_RESULT = _Fn(_read_link_result, _write_link_result, ("link_result",))


@service(LINK_RESPONSE)
class LinkResponse(Structure):
    """LINK-Response: the client's answer to a login or heartbeat: the result (bit 7: clock
    trusted) and the request, arrival and answer times, against which the terminal checks its
    clock."""

    piid: int = f(PIID)
    result: int = f(LINK_RESULT)
    request_time: DateTime = f(DATE_TIME)
    receive_time: DateTime = f(DATE_TIME)
    response_time: DateTime = f(DATE_TIME)
