"""From what a terminal relayed to verified readings.

Theory of operation. A terminal forwards each exchange with a meter exactly as it travelled
(:class:`~wattguard.network.terminal.Collected`: the request the terminal sent and the
meter's answer, or a report the meter sent on its own). The station trusts the terminal with
nothing: :func:`open_exchange` hands a protected answer to the :class:`Verifier` (the
cryptographic device, which checks the meter's MAC under that meter's own key and the RN of
the request) and only the APDU it vouches for is read. With ``require_protection`` an answer
that arrives unprotected is refused: a terminal, or anyone on the WAN, could have written it.

:func:`readings_of` turns a verified answer into :class:`Reading` rows: one per value, the
quantity named by its OAD with the element index (``00100201`` is total forward active energy,
``00100202`` its tariff 1), values scaled by the object catalogue's scaler. Records (freezes)
take their time from the freeze-time column (2021-0200) and their quantity is prefixed with the
record object (``50020200/00100201``: total energy in the 15-minute curve), so a frozen value
never collides with a real-time one; real-time values take the moment the terminal read them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol

from wattguard.errors import DecodeError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.terminal import Collected
from wattguard.protocol import OAD, Data, DataType, decode_apdu
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.common import AResultNormal, AResultRecord
from wattguard.protocol.apdu.get import (
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
    GetResponseRecordList,
)
from wattguard.protocol.apdu.report import ReportNotificationList, ReportNotificationRecordList
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse
from wattguard.protocol.objects import lookup

__all__ = [
    "PlainVerifier",
    "Reading",
    "UnverifiedData",
    "Verifier",
    "open_exchange",
    "readings_of",
]

log = logging.getLogger(__name__)

FREEZE_TIME = OAD(0x2021, 2, 0)


class UnverifiedData(SecurityError):
    """An answer the station cannot vouch for (unprotected where protection is required, or a
    MAC that does not verify)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One verified value as the station stores it: the meter, the quantity (OAD, prefixed by
    the record object for a frozen value), its time and its scaled value."""

    meter: str  # 12 hex digits
    quantity: str  # OAD with element, 8 hex digits
    time: int  # POSIX seconds: freeze time, or when it was read
    value: float


class Verifier(Protocol):
    """The station's cryptographic device, as ingestion needs it."""

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        """The inner APDU of a meter's protected answer (raises SecurityError if forged)."""
        ...

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        """The inner report of a meter's RN_MAC-protected report."""
        ...


class PlainVerifier:
    """No cryptographic device: protected answers cannot be opened (the unprotected setup)."""

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        raise UnverifiedData("no cryptographic device to verify a protected answer")

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        raise UnverifiedData("no cryptographic device to verify a protected report")


def open_exchange(
    item: Collected,
    verifier: Verifier,
    *,
    require_protection: bool = True,
    events: EventSink | None = None,
) -> Structure | None:
    """The verified answer (or report) of one relayed exchange; None if refused (recorded)."""
    source = f"station/ingest meter {item.meter.hex()}"
    try:
        request = decode_apdu(item.request) if item.request else None
        answer = decode_apdu(item.response)
        if isinstance(answer, SecurityResponse):
            wrapped = request if isinstance(request, SecurityRequest) else None
            return decode_apdu(verifier.open_response(item.meter, wrapped, answer))
        if isinstance(answer, SecurityRequest) and request is None:
            return decode_apdu(verifier.open_report(item.meter, answer))
        if require_protection:
            raise UnverifiedData(f"unprotected {type(answer).__name__} where a MAC is required")
        return answer
    except DecodeError as exc:
        _record(events, EventKind.MALFORMED, source, f"relayed exchange: {exc}", item.at)
    except SecurityError as exc:
        _record(events, EventKind.BAD_MAC, source, f"refused: {exc}", item.at)
    return None


def readings_of(meter: bytes, answer: Structure, read_at: float) -> list[Reading]:
    """The readings in a verified GET answer or report."""
    address = meter.hex()
    out: list[Reading] = []
    normal: tuple[AResultNormal, ...] = ()
    records: tuple[AResultRecord, ...] = ()
    if isinstance(answer, GetResponseNormal):
        normal = (answer.result,)
    elif isinstance(answer, GetResponseNormalList | ReportNotificationList):
        normal = answer.results
    elif isinstance(answer, GetResponseRecord):
        records = (answer.result,)
    elif isinstance(answer, GetResponseRecordList | ReportNotificationRecordList):
        records = answer.results
    for result in normal:
        if isinstance(result.result, Data):
            out.extend(_values(address, result.oad, result.result, int(read_at)))
    for record in records:
        if not isinstance(record.result, tuple):
            continue
        columns = [csd.column for csd in record.columns.columns]
        try:
            time_column = columns.index(FREEZE_TIME)
        except ValueError:
            time_column = -1
        for row in record.result:
            when = _posix(row[time_column]) if time_column >= 0 else None
            stamp = int(read_at) if when is None else when
            for column, value in zip(columns, row, strict=True):
                if column == FREEZE_TIME or not isinstance(column, OAD):
                    continue
                out.extend(_values(address, column, value, stamp, f"{record.oad}/"))
    return out


def _values(meter: str, oad: OAD, value: Data, time: int, prefix: str = "") -> list[Reading]:
    info = lookup(oad.oi)
    scale = 10.0**info.scaler if info is not None and info.scaler is not None else 1.0
    if value.type in (DataType.ARRAY, DataType.STRUCTURE) and oad.element == 0:
        out = []
        for index, item in enumerate(value.value, start=1):
            number = _number(item)
            if number is not None:
                element = OAD(oad.oi, oad.attribute, index, oad.feature)
                out.append(Reading(meter, prefix + str(element), time, number * scale))
        return out
    number = _number(value)
    return [] if number is None else [Reading(meter, prefix + str(oad), time, number * scale)]


def _number(value: Data) -> float | None:
    v: Any = value.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _posix(value: Data) -> int | None:
    if value.type not in (DataType.DATE_TIME_S, DataType.DATE_TIME):
        return None
    try:
        posix: float = value.value.to_posix()
    except (ValueError, AttributeError):
        return None
    return math.floor(posix)


def _record(events: EventSink | None, kind: EventKind, source: str, detail: str, at: float) -> None:
    log.info("%s: %s", source, detail)
    if events is not None:
        events.record(SecurityEvent(kind, source, detail, at))
