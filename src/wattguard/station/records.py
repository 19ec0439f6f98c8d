"""What the station's storage holds, row by row, and the errors it raises.

Every row a caller gets back is a small frozen dataclass (or, for the audit trail, a named
tuple); every row a caller hands in is checked here before any SQL runs, so a bad value is a
:class:`InvalidRecord` naming the row and the field, never a database driver's error half way
through a batch.

Keys are normalised on the way in, because the database compares them byte for byte: a meter
address is twelve hex digits in lower case (``bytes.hex()`` of the 6-byte address, as the rest
of wattguard writes it), a quantity is an OAD in eight upper-case hex digits (``str(OAD)``),
optionally prefixed by the record object it was frozen in (``50020200/00100201``). Without
this, ``00000000000A`` and ``00000000000a`` would be two meters and a re-delivered reading
would be stored twice.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from wattguard.errors import WattguardError
from wattguard.events import EventKind
from wattguard.station.ingest import Reading

__all__ = [
    "Alert",
    "AuditRow",
    "InvalidRecord",
    "MeterRecord",
    "MeterState",
    "OperationalEvent",
    "OperationalKind",
    "StorageError",
    "StorageUnavailable",
    "StoredEvent",
    "UserRecord",
    "meter_of",
    "normalise_meter",
    "normalise_prefix",
    "normalise_quantity",
    "reading_rows",
]

_METER = re.compile(r"[0-9a-fA-F]{12}")
_PREFIX = re.compile(r"[0-9a-fA-F]{0,12}")
_QUANTITY = re.compile(r"[0-9A-Fa-f]{8}(?:/[0-9A-Fa-f]{8})?")
_METER_IN_SOURCE = re.compile(r"\bmeter ([0-9a-fA-F]{12})\b")
_MAX_TIME = 2**63 - 1
_MAX_TEXT = 4096

ReadingRow = tuple[str, str, int, float, float | None]


class StorageError(WattguardError):
    """The station's storage could not do what was asked; nothing of the call was stored."""


class InvalidRecord(StorageError, ValueError):
    """A row handed to the storage is not valid; ``index`` is its position in the batch."""

    def __init__(self, message: str, *, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


class StorageUnavailable(StorageError):
    """The database cannot be reached or failed; the call may be retried."""


class MeterState(enum.Enum):
    """Where a meter stands with the station."""

    ACTIVE = "active"
    DISCONNECTED = "disconnected"  # the relay was tripped by a command
    QUARANTINED = "quarantined"  # an operator stopped trusting it (tamper, forged data)
    DECOMMISSIONED = "decommissioned"


@dataclass(frozen=True, slots=True)
class MeterRecord:
    """A meter as stored: its address, its terminal, when it was registered, its class (if
    known) and its state, with when that last changed."""

    address: str
    terminal: str
    registered: float
    meter_class: str | None
    state: MeterState
    state_changed: float | None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An API user as stored: never the token, only its SM3 digest (station.users)."""

    name: str
    role: str  # a Role's name: VIEWER, OPERATOR, SUPERVISOR
    token_digest: str  # 64 hex digits
    created: float
    disabled: float | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A security event as stored, with its row id, the meter its source names and when the
    station received it."""

    id: int
    time: float  # the reporting component's clock
    kind: EventKind
    source: str
    detail: str
    meter: str | None = None  # the meter the source names, if any
    received: float | None = None  # the station's clock when it was stored


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as stored: the rule that raised it, its severity and subject, when it opened and
    closed, how many events matched, and the latest evidence."""

    id: int
    rule: str
    severity: str
    subject: str
    opened: float
    closed: float | None
    count: int
    evidence: str
    last: float | None = None  # when the latest matching event arrived


class AuditRow(NamedTuple):
    """One entry of the station's audit trail as stored (:mod:`wattguard.station.audit`)."""

    seq: int
    time: float
    action: str
    detail: str
    hash: str  # hex of SM3(previous hash || entry)


def normalise_meter(address: object, index: int = 0, what: str = "meter") -> str:
    """Twelve lower-case hex digits (a meter's or a terminal's address), or
    :class:`InvalidRecord`."""
    if not isinstance(address, str) or _METER.fullmatch(address) is None:
        raise InvalidRecord(
            f"row {index}: {what} {shown(address)} is not 12 hex digits", index=index
        )
    return address.lower()


def normalise_prefix(prefix: object) -> str:
    """The first digits of a meter address (up to 12 hex digits, ``""`` for all), in lower
    case, or :class:`InvalidRecord`."""
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
        raise InvalidRecord(
            f"search {shown(prefix)} is not the first digits of an address (0-9, a-f)"
        )
    return prefix.lower()


def shown(value: object, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters (for a message about what was refused): the
    one way a message quotes input, so a huge input is never echoed whole (and a text is cut
    before it is escaped, so quoting costs no more than ``width``)."""
    if isinstance(value, str | bytes) and len(value) > width:
        value = value[:width]
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"


def normalise_quantity(quantity: object, index: int = 0) -> str:
    """``XXXXXXXX`` or ``RRRRRRRR/XXXXXXXX`` in upper-case hex, or :class:`InvalidRecord`."""
    if not isinstance(quantity, str) or _QUANTITY.fullmatch(quantity) is None:
        raise InvalidRecord(
            f"row {index}: quantity {shown(quantity)} is not an OAD (8 hex digits, optionally "
            "after a record OAD and '/')",
            index=index,
        )
    return quantity.upper()


def meter_of(source: str) -> str | None:
    """The meter a security event's source names (``"meter 0000000000a1 management/SPI"``)."""
    found = _METER_IN_SOURCE.search(source)
    return found.group(1).lower() if found else None


def text(value: object, name: str, index: int = 0, *, optional: bool = False) -> str | None:
    """A bounded string field (user names, details, sources)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT or "\x00" in value:
        raise InvalidRecord(
            f"row {index}: {name} must be a string of at most {_MAX_TEXT} characters without NUL",
            index=index,
        )
    return value


def moment(value: object, name: str, index: int = 0) -> float:
    """A finite time in seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecord(f"row {index}: {name} {value!r} is not a finite number", index=index)
    return float(value)


def reading_rows(
    readings: Iterable[Reading],
    received: float | None,
    known: tuple[dict[object, str], dict[object, str]] | None = None,
) -> list[ReadingRow]:
    """Check and normalise a batch; the first bad reading raises, naming its position.

    Hot path (tens of thousands of rows per second): keys seen once in the batch are looked up
    in a dictionary instead of being matched again; ``known`` (the meters' and quantities'
    dictionaries) carries them from one call to the next (group commit checks report by
    report).
    """
    if received is not None:
        received = moment(received, "received time")
    meters: dict[object, str]
    quantities: dict[object, str]
    meters, quantities = ({}, {}) if known is None else known
    rows: list[ReadingRow] = []
    append = rows.append
    for index, reading in enumerate(readings):
        try:
            raw_meter, raw_quantity = reading.meter, reading.quantity
            time, value = reading.time, reading.value
        except AttributeError:
            raise InvalidRecord(f"row {index}: {reading!r} is not a Reading", index=index) from None
        meter = meters.get(raw_meter) if isinstance(raw_meter, str) else None
        if meter is None:
            meter = meters[raw_meter] = normalise_meter(raw_meter, index)
        quantity = quantities.get(raw_quantity) if isinstance(raw_quantity, str) else None
        if quantity is None:
            quantity = quantities[raw_quantity] = normalise_quantity(raw_quantity, index)
        if type(time) is not int:
            time = _whole_seconds(time, index)
        if not 0 <= time <= _MAX_TIME:
            raise InvalidRecord(f"row {index}: time {time} is out of range", index=index)
        if type(value) is not float:
            value = _number(value, index)
        if not math.isfinite(value):
            raise InvalidRecord(f"row {index}: value {value!r} is not finite", index=index)
        append((meter, quantity, time, value, received))
    return rows


def _whole_seconds(time: object, index: int) -> int:
    if isinstance(time, bool):
        raise InvalidRecord(f"row {index}: time {time!r} is not whole seconds", index=index)
    try:
        return operator.index(time)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidRecord(
            f"row {index}: time {time!r} is not whole seconds", index=index
        ) from None


def _number(value: object, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            # numpy scalars and other real numbers; never strings
            if isinstance(value, str | bytes) or not hasattr(value, "__float__"):
                raise TypeError
            return float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidRecord(
                f"row {index}: value {value!r} is not a number", index=index
            ) from None
    try:
        return float(value)
    except OverflowError:
        raise InvalidRecord(f"row {index}: value {value!r} is out of range", index=index) from None


class OperationalKind(enum.Enum):
    """What an operational event is about."""

    UNDER_VOLTAGE = "under voltage"
    OVER_VOLTAGE = "over voltage"
    OVER_CURRENT = "over current"
    OVER_TEMPERATURE = "over temperature"
    BATTERY_LOW = "battery low"
    PILE_OVER_LIMIT = "pile over limit"
    CREDIT_LOW = "credit low"
    REVERSE_ENERGY = "reverse energy"
    EXPANSION_ALARM = "expansion module alarm"
    WATER_LEAK = "water leak"
    SENSOR_ALARM = "sensor alarm"
    LOAD_CURTAILED = "load curtailed"  # the meter's own load distribution curtailed a port
    # power quality (the meter's quality monitor, wattguard.meter.management.quality)
    POWER_REVERSAL = "power reversal"  # on a meter that may not export
    OVERLOAD = "overload"
    LOW_POWER_FACTOR = "power factor below limit"
    FREQUENCY_DEVIATION = "frequency deviation"
    VOLTAGE_THD = "voltage THD over limit"
    CURRENT_THD = "current THD over limit"


@dataclass(frozen=True, slots=True)
class OperationalEvent:
    """One operational event of one meter, at the meter's reported time; ``id`` and
    ``received`` (the station's clock) once stored; ``number``, the meter's event record
    number (None when not reported), and ``ended``, when the meter reported it over (None
    while it lasts)."""

    time: float
    kind: OperationalKind
    meter: str
    detail: str
    id: int = 0
    received: float | None = None
    number: int | None = None
    ended: float | None = None
