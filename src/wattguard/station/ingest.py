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
never collides with a real-time one.

A real-time value's time is one the terminal cannot edit (issue #13): the item header's time is
covered by no MAC. :func:`verify_exchange` gives each verified answer the time its real-time
values are stored at: the meter's own date-time (4000-0200) read in the same MAC'd answer, or,
for a meter's counter-protected report, the moment it reached the station. An answer to a read
is taken once and only while young (:class:`~wattguard.station.freshness.AnswerFreshness`);
one that carries real-time values without the meter's time is refused. Only an unprotected
answer (``require_protection`` off) takes the terminal's word for its time.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from wattguard.errors import DecodeError, ReplayError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.terminal import Collected, encode_item
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
from wattguard.protocol.values import SID
from wattguard.station.freshness import FINGERPRINT, AnswerFreshness, StaleAnswer

__all__ = [
    "Exchange",
    "PlainVerifier",
    "Reading",
    "UnverifiedData",
    "Verified",
    "Verifier",
    "meter_time",
    "open_exchange",
    "readings_of",
    "verify_exchange",
    "verify_exchanges",
]

log = logging.getLogger(__name__)

FREEZE_TIME = OAD(0x2021, 2, 0)
#: The meter's date-time (4000 attribute 2): read with real-time values, it dates them.
METER_TIME = OAD(0x4000, 2, 0)
# the answers by kind, as tuples built once (not a union per call)
_REAL_TIME = (GetResponseNormal, GetResponseNormalList)
_NORMAL_LISTS = (GetResponseNormalList, ReportNotificationList)
_RECORD_LISTS = (GetResponseRecordList, ReportNotificationRecordList)
_TIMES = (DataType.DATE_TIME_S, DataType.DATE_TIME)
#: A relayed item's fingerprint for the freshness record is its BLAKE2b (RFC 7693) of
#: FINGERPRINT bytes: CPython's own implementation, two thirds of the instructions of
#: ``hashlib.sha256``, which looks the digest up in OpenSSL on every call.
_blake2b = hashlib.blake2b


class UnverifiedData(SecurityError):
    """An answer the station cannot vouch for (unprotected where protection is required, or a
    MAC that does not verify)."""


class Reading(NamedTuple):
    """One verified value as the station stores it: the meter, the quantity (OAD, prefixed by
    the record object for a frozen value), its time and its scaled value. A row tuple with
    names (half the cost of a frozen dataclass to make: one is made per value ingested)."""

    meter: str  # 12 hex digits
    quantity: str  # OAD with element, 8 hex digits
    time: int  # POSIX seconds: freeze time, or when it was read (see the module docstring)
    value: float


@dataclass(frozen=True, slots=True)
class Verified:
    """A relayed answer the station vouches for, and the time its real-time values are
    stored at (see the module docstring)."""

    answer: Structure
    time: float


#: One protected answer for :meth:`Verifier.open_responses`: the meter, the request it answers
#: (None when the terminal relayed none that decodes as a SECURITY-Request), the answer.
Exchange = tuple[bytes, SecurityRequest | None, SecurityResponse]


class Verifier(Protocol):
    """The station's cryptographic device, as ingestion needs it."""

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        """The inner APDU of a meter's protected answer (raises SecurityError if forged)."""
        ...

    def open_responses(self, exchanges: Sequence[Exchange]) -> list[bytes | SecurityError]:
        """:meth:`open_response` of many answers (a terminal's report) in one call: for each,
        in order, its inner APDU or the SecurityError that refused it (one refusal does not
        stop the others)."""
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

    def open_responses(self, exchanges: Sequence[Exchange]) -> list[bytes | SecurityError]:
        return [
            UnverifiedData("no cryptographic device to verify a protected answer")
            for _ in exchanges
        ]

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        raise UnverifiedData("no cryptographic device to verify a protected report")


def open_exchange(
    item: Collected,
    verifier: Verifier,
    *,
    require_protection: bool = True,
    events: EventSink | None = None,
) -> Structure | None:
    """The verified answer (or report) of one relayed exchange; None if refused (recorded).
    No freshness check: :func:`verify_exchange` is what the station collects with."""
    found = verify_exchange(
        item, verifier, now=item.at, require_protection=require_protection, events=events
    )
    return None if found is None else found.answer


def verify_exchange(
    item: Collected,
    verifier: Verifier,
    *,
    now: float,
    require_protection: bool = True,
    events: EventSink | None = None,
    freshness: AnswerFreshness | None = None,
    relayed: bytes | None = None,
) -> Verified | None:
    """The verified answer (or report) of one relayed exchange, with the time of its
    real-time values; None if refused (recorded as a security event). ``now`` is the
    station's calendar time; ``freshness`` refuses an answer taken before or out of date;
    ``relayed`` is the item as the terminal relayed it (``encode_item(item)``), when the
    caller has those bytes: the freshness record fingerprints them, and they need not be
    encoded again. :func:`verify_exchanges` of one item."""
    return verify_exchanges(
        (item,), verifier, now=now, require_protection=require_protection, events=events,
        freshness=freshness, relayed=None if relayed is None else (relayed,),
    )[0]  # fmt: skip


def verify_exchanges(
    items: Sequence[Collected],
    verifier: Verifier,
    *,
    now: float,
    require_protection: bool = True,
    events: EventSink | None = None,
    freshness: AnswerFreshness | None = None,
    relayed: Sequence[bytes] | None = None,
) -> list[Verified | None]:
    """:func:`verify_exchange` of a report's items at once: for each, in order, the verified
    answer or None, and the same security events, recorded in the items' order.

    The request is decoded only for a protected answer, the one thing it is needed for (what
    the meter's MAC is bound to); an unprotected answer never looks at it. The protected
    answers go to the verifier in one :meth:`Verifier.open_responses` call (one round trip to
    a cryptographic device across the network), and each step runs over every item before
    the next: decoding the answers, opening them, decoding what they wrapped, admitting them
    as fresh. The decoder's and the cipher's code and tables then stay in the processor's
    caches from one item to the next: in bench/ingest.py's replay, item by item took about a
    tenth more CPU per reading with full security (docs/architecture.md)."""
    found: list[Verified | None] = [None] * len(items)
    refused: list[SecurityError | DecodeError | None] = [None] * len(items)
    protected: list[int] = []  # the items whose answers go to the verifier
    exchanges: list[Exchange] = []
    for index, item in enumerate(items):
        try:
            answer = decode_apdu(item.response)
            if isinstance(answer, SecurityResponse):
                request = decode_apdu(item.request) if item.request else None
                wrapped = request if isinstance(request, SecurityRequest) else None
                protected.append(index)
                exchanges.append((item.meter, wrapped, answer))
            elif isinstance(answer, SecurityRequest) and not item.request:
                # a meter's report: its counter (checked by the verifier) keeps it fresh, and
                # it is dated when it reached the station
                found[index] = Verified(decode_apdu(verifier.open_report(item.meter, answer)), now)
            elif require_protection:
                kind = type(answer).__name__
                raise UnverifiedData(f"unprotected {kind} where a MAC is required")
            else:
                found[index] = Verified(answer, item.at)  # unprotected: the terminal's word
        except (DecodeError, SecurityError) as exc:
            refused[index] = exc
    if exchanges:
        opened = verifier.open_responses(exchanges)
        inners: list[Structure | None] = []
        for index, inner in zip(protected, opened, strict=True):
            try:
                if isinstance(inner, SecurityError):
                    raise inner
                inners.append(decode_apdu(inner))
            except (DecodeError, SecurityError) as exc:
                refused[index] = exc
                inners.append(None)
        admit = None if freshness is None else freshness.admit
        for index, (meter, wrapped, _), opened_answer in zip(
            protected, exchanges, inners, strict=True
        ):
            if opened_answer is None:
                continue
            try:
                if wrapped is None:
                    raise UnverifiedData("a protected answer to no protected request")
                # when its real-time values were measured, by the meter's authenticated
                # clock; the answer is admitted by ``freshness`` first
                authenticated = meter_time(opened_answer)
                if admit is not None:
                    v = wrapped.verification
                    sid = v.sid
                    binding = v.random if sid is None else _sid_binding(sid)
                    raw = encode_item(items[index]) if relayed is None else relayed[index]
                    mark = _blake2b(raw, digest_size=FINGERPRINT).digest()
                    admit(meter, bytes(binding), authenticated, now, mark)
                if authenticated is None:
                    if isinstance(opened_answer, _REAL_TIME):
                        raise StaleAnswer(_NO_METER_TIME)
                    authenticated = now  # records: each row carries its own freeze time
                found[index] = Verified(opened_answer, authenticated)
            except SecurityError as exc:
                refused[index] = exc
    for item, cause in zip(items, refused, strict=True):
        if cause is not None:
            _refused(events, item, cause, now)
    return found


def _refused(
    events: EventSink | None, item: Collected, exc: SecurityError | DecodeError, now: float
) -> None:
    """Record the refusal of a relayed item, by its cause."""
    if isinstance(exc, DecodeError):
        _record(events, EventKind.MALFORMED, _source(item), f"relayed exchange: {exc}", now)
    elif isinstance(exc, ReplayError):
        detail = f"refused (claimed {item.at:.0f}): {exc}"
        _record(events, EventKind.REPLAY, _source(item), detail, now)
    else:
        _record(events, EventKind.BAD_MAC, _source(item), f"refused: {exc}", now)


def _source(item: Collected) -> str:
    """The source a refusal of ``item`` is recorded under (made only for a refusal)."""
    return f"station/ingest meter {item.meter.hex()}"


def meter_time(answer: Structure) -> float | None:
    """The meter's date-time (4000-0200) among an answer's real-time values, or None."""
    if not isinstance(answer, _REAL_TIME):
        return None
    results = (answer.result,) if isinstance(answer, GetResponseNormal) else answer.results
    for result in results:
        if result.oad == METER_TIME and isinstance(result.result, Data):
            return _posix(result.result)
    return None


_NO_METER_TIME = "real-time values without the meter's time (4000-0200) in the answer"


def _sid_binding(sid: SID) -> bytes:
    """What a SID binds a meter's MAC to: its identifier (4 bytes) and additional data."""
    return sid.ident.to_bytes(4, "big") + sid.additional


def readings_of(meter: bytes, answer: Structure, read_at: float) -> list[Reading]:
    """The readings in a verified GET answer or report."""
    address = meter.hex()
    out: list[Reading] = []
    normal: tuple[AResultNormal, ...] = ()
    records: tuple[AResultRecord, ...] = ()
    if isinstance(answer, GetResponseNormal):
        normal = (answer.result,)
    elif isinstance(answer, _NORMAL_LISTS):
        normal = answer.results
    elif isinstance(answer, GetResponseRecord):
        records = (answer.result,)
    elif isinstance(answer, _RECORD_LISTS):
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
    scale, names = _quantities(oad, prefix)
    if value.type in (DataType.ARRAY, DataType.STRUCTURE) and oad.element == 0:
        out = []
        for index, item in enumerate(value.value, start=1):
            number = _number(item)
            if number is not None:
                name = names[index] if index < len(names) else _quantity(oad, prefix, index)
                out.append(Reading(meter, name, time, number * scale))
        return out
    number = _number(value)
    return [] if number is None else [Reading(meter, names[0], time, number * scale)]


#: A quantity's names and scale, per OAD and record prefix: worked out once, not per reading.
_NAMES: dict[tuple[OAD, str], tuple[float, tuple[str, ...]]] = {}
#: Elements whose names are kept per OAD (an array's longer tail is named when met).
_ELEMENTS = 16


def _quantities(oad: OAD, prefix: str) -> tuple[float, tuple[str, ...]]:
    """The scale of ``oad``'s values (the object catalogue's scaler) and its quantity names:
    ``[0]`` the OAD itself, ``[i]`` its element ``i`` (for an array read whole)."""
    known = _NAMES.get((oad, prefix))
    if known is None:
        info = lookup(oad.oi)
        scale = 10.0**info.scaler if info is not None and info.scaler is not None else 1.0
        names = (prefix + str(oad), *(_quantity(oad, prefix, i) for i in range(1, _ELEMENTS)))
        known = (scale, names)
        if len(_NAMES) < 100_000:  # bounded: OADs come from meters' answers
            _NAMES[(oad, prefix)] = known
    return known


def _quantity(oad: OAD, prefix: str, index: int) -> str:
    return prefix + str(OAD(oad.oi, oad.attribute, index, oad.feature))


def _number(value: Data) -> float | None:
    v: Any = value.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _posix(value: Data) -> int | None:
    if value.type not in _TIMES:
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
