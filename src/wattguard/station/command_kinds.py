"""What each kind of remote command takes and sends: its least role, its approval rule, its
argument (described for a form, parsed and checked at issue time) and the DL/T 698.45 request
that carries it to a meter.

Theory of operation. :data:`KINDS` is one table, ``CommandKind -> KindSpec``. At issue time
:func:`parse` turns the command's argument text into a value or raises :class:`BadArgument`
with what is wrong (the API answers 400); :func:`approval_reason` says why a second person
must approve (empty: no one need). At dispatch the station asks :meth:`KindSpec.request` for
each meter's request APDU (PIID 1, unprotected; the station has the cryptographic device
protect it). Everything here is pure: the time and the wallet parameters are passed in.

Argument encodings (README, "Commands"; docs/protocol.md, "Commands the station sends"): a
relay command and a time synchronisation take none; an amount is whole fen as decimal digits
(``"5000"`` is 50.00 yuan); the demand period is minutes; the pile limit is watts; the
structured kinds take a JSON object. :func:`describe` gives each argument's schema-like
description for ``GET /api/command-kinds``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattguard.meter.management.exposure import MAX_ALARM_MESSAGE
from wattguard.meter.management.parameters import DEMAND_PERIODS, MAX_DISPLAY_ITEMS, MAX_PERIODS
from wattguard.protocol import OAD, OMD, Data, DataType, DateTimeS
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.set import SetItem, SetRequestNormal, SetRequestNormalList
from wattguard.station.arguments import BadArgument, oad_argument
from wattguard.station.arguments import json_object as _json
from wattguard.station.arguments import whole_number as _integer
from wattguard.station.commands import ISSUER, CommandKind, CommandRefused
from wattguard.station.freeze_objects import ARGUMENT as FREEZE_ARGUMENT
from wattguard.station.freeze_objects import parse as parse_freeze
from wattguard.station.freeze_objects import request as freeze_request

__all__ = [
    "KINDS",
    "TOP_UP_APPROVAL",
    "BadArgument",
    "KindSpec",
    "MeterContext",
    "approval_reason",
    "describe",
    "parse",
]

_D = DataType
#: A top-up above this many fen (1 000 yuan) per meter needs a second person's approval.
TOP_UP_APPROVAL = 100_000
#: A refund above this many fen (100 yuan) per meter needs a second person's approval.
REFUND_APPROVAL = 10_000
#: The most one top-up may carry (the soft ESAM's wallet limit is larger).
MAX_AMOUNT = 10_000_000
#: Event thresholds the station may set: name -> (OI, unit, scale to the wire, bounds).
THRESHOLDS: dict[str, tuple[int, int, str, int, tuple[float, float], DataType]] = {
    # event: (OI, attribute, unit, scale to the meter's integer, (low, high), the limit's type)
    # (meter/management/parameters.py and quality.py hold the objects' shapes)
    "under-voltage": (0x3001, 5, "V", 10, (50.0, 260.0), DataType.LONG_UNSIGNED),
    "over-voltage": (0x3002, 5, "V", 10, (200.0, 400.0), DataType.LONG_UNSIGNED),
    "over-current": (0x3005, 5, "A", 10_000, (1.0, 200.0), DataType.DOUBLE_LONG),
    "power reversal": (0x3007, 5, "W", 10, (1.0, 10_000.0), DataType.DOUBLE_LONG),
    "overload": (0x3008, 5, "W", 10, (100.0, 100_000.0), DataType.DOUBLE_LONG),
    "power factor": (0x300C, 6, "%", 10, (10.0, 100.0), DataType.LONG),
    "frequency deviation": (0xFF26, 5, "Hz", 100, (0.05, 5.0), DataType.LONG_UNSIGNED),
    "voltage THD": (0xFF27, 5, "%", 100, (0.5, 50.0), DataType.LONG_UNSIGNED),
    "current THD": (0xFF28, 5, "%", 100, (1.0, 200.0), DataType.LONG_UNSIGNED),
}


@dataclass(frozen=True, slots=True)
class MeterContext:
    """What a request needs beyond the argument: the station's time and, for the wallet, the
    cryptographic device's F100 method 6 parameter maker (None: no device)."""

    now: float
    wallet: Callable[[bytes, int, bool], Data] | None = None


Builder = Callable[[Any, bytes, MeterContext], Structure]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind of command: when a second person must approve, what its argument is, how it
    is checked and what request carries it (who may issue it: ``commands.ISSUER``)."""

    kind: CommandKind
    approval: str
    description: str
    argument: dict[str, Any]
    check: Callable[[str], Any]
    build: Builder | None  # None: dispatched elsewhere (firmware, keys)
    #: (checked argument, meters, approval threshold) -> why approval is needed, or "".
    needs: Callable[[Any, int, int], str] | None = None

    def request(self, value: Any, meter: bytes, context: MeterContext) -> Structure:
        """The request APDU (PIID 1) that carries this command to ``meter``."""
        if self.build is None:
            raise CommandRefused(f"{self.kind.value} is not dispatched by this station yet")
        return self.build(value, meter, context)


def parse(kind: CommandKind, argument: str) -> Any:
    """``argument`` checked for ``kind`` (BadArgument says what is wrong)."""
    spec = KINDS.get(kind)
    return None if spec is None else spec.check(argument)


def approval_reason(kind: CommandKind, argument: str, meters: int, threshold: int) -> str:
    """Why a command of ``kind`` needs a second person (its own rule; "" if not)."""
    spec = KINDS.get(kind)
    if spec is None or spec.needs is None:
        return ""
    return spec.needs(spec.check(argument), meters, threshold)


def describe() -> list[dict[str, Any]]:
    """Every kind with its least role, approval rule and argument, for a command form."""
    return [
        {
            "kind": spec.kind.value,
            "role": ISSUER[spec.kind].name.lower(),
            "approval": spec.approval,
            "description": spec.description,
            "argument": spec.argument,
        }
        for spec in KINDS.values()
    ]


# checks


def _none(argument: str) -> None:
    if argument.strip():
        raise BadArgument("this command takes no argument")


def _whole(argument: str, name: str, low: int, high: int) -> int:
    text = argument.strip()
    if not text.isdigit() or not text.isascii():
        raise BadArgument(f"the {name} is a whole number, {low} to {high}, not {text[:20]!r}")
    value = int(text)
    if not low <= value <= high:
        raise BadArgument(f"the {name} is {low} to {high}, not {value}")
    return value


def _moment(text: object) -> float:
    if not isinstance(text, str):
        raise BadArgument("switch_at is an ISO 8601 time with its zone, e.g. 2027-01-01T00:00Z")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadArgument(f"switch_at {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadArgument("switch_at needs its zone (Z or +hh:mm)")
    if not 2000 <= moment.year <= 2099:
        raise BadArgument("switch_at is a time of this century")
    return moment.timestamp()


def _prices(value: object) -> tuple[int, ...]:
    """Prices in yuan/kWh (at most 4 decimals) as 4019 holds them, 0.0001 yuan/kWh."""
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise BadArgument("prices is a list of 1 to 4 prices in yuan/kWh, tariff 1 first")
    out = []
    for price in value:
        if not isinstance(price, int | float) or isinstance(price, bool) or not 0 < price <= 10:
            raise BadArgument("a price is above 0 and at most 10 yuan/kWh")
        if abs(price * 10_000 - round(price * 10_000)) > 1e-6:
            raise BadArgument("a price has at most 4 decimals (0.0001 yuan)")
        out.append(round(price * 10_000))
    return tuple(out)


def _tariff_table(argument: str) -> tuple[tuple[tuple[int, int, int], ...], float, tuple[int, ...]]:
    value = _json(argument, {"periods", "switch_at", "prices"}, {"periods", "switch_at"})
    periods = value["periods"]
    if not isinstance(periods, list) or not 1 <= len(periods) <= MAX_PERIODS:
        raise BadArgument(f'periods is a list of 1 to {MAX_PERIODS} ["hh:mm", tariff] pairs')
    table = []
    for item in periods:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise BadArgument('a period is ["hh:mm", tariff]')
        hour, _, minute = item[0].partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise BadArgument(f"a period starts at hh:mm, not {item[0][:10]!r}")
        table.append((int(hour), int(minute), _integer(item[1], "a tariff", 1, 4)))
    starts = [h * 60 + m for h, m, _ in table]
    if starts != sorted(set(starts)):
        raise BadArgument("periods are in time order, each starting once")
    prices = _prices(value["prices"]) if "prices" in value else ()
    return tuple(table), _moment(value["switch_at"]), prices


def _display(argument: str) -> tuple[OAD, ...]:
    value = _json(argument, {"objects"}, {"objects"})
    objects = value["objects"]
    if not isinstance(objects, list) or not 1 <= len(objects) <= MAX_DISPLAY_ITEMS:
        raise BadArgument(f"objects is a list of 1 to {MAX_DISPLAY_ITEMS} OADs")
    return tuple(oad_argument(text) for text in objects)


def _message(argument: str) -> str:
    """A display alarm's message: at most 16 printable ASCII characters (a visible-string an
    LCD line shows), or none (the ALARM annunciator alone)."""
    if not argument.isascii() or not argument.isprintable():
        raise BadArgument("the message is printable ASCII (a visible-string)")
    if len(argument) > MAX_ALARM_MESSAGE:
        raise BadArgument(f"the message is at most {MAX_ALARM_MESSAGE} characters")
    return argument


def _threshold(argument: str) -> tuple[str, float, int]:
    value = _json(argument, {"event", "limit", "delay"}, {"event", "limit"})
    event = value["event"]
    if event not in THRESHOLDS:
        raise BadArgument(f"event is one of {', '.join(THRESHOLDS)}")
    _, _, unit, _, (low, high), _ = THRESHOLDS[event]
    limit = value["limit"]
    if not isinstance(limit, int | float) or isinstance(limit, bool) or not low <= limit <= high:
        raise BadArgument(f"the {event} limit is {low:g} to {high:g} {unit}")
    return event, float(limit), _integer(value.get("delay", 60), "delay", 0, 255)


_LEVELS = ("alarm1", "alarm2", "overdraft", "hoarding", "close_allowed")


def _credit_levels(argument: str) -> tuple[int, ...]:
    value = _json(argument, set(_LEVELS), {"alarm1", "alarm2"})
    levels = tuple(_integer(value.get(k, 0), k, 0, MAX_AMOUNT) for k in _LEVELS)
    alarm1, alarm2, _, hoarding, close_allowed = levels
    if alarm1 < alarm2:
        raise BadArgument("alarm1 (the first warning) is at least alarm2")
    if hoarding and close_allowed > hoarding:
        raise BadArgument("close_allowed is at most the hoarding limit")
    return levels


# requests


def _set(*items: tuple[OAD, Data]) -> Structure:
    if len(items) == 1:
        return SetRequestNormal(1, *items[0])
    return SetRequestNormalList(1, tuple(SetItem(oad, data) for oad, data in items))


def _demand_window(argument: str) -> tuple[int, int | None]:
    text = argument.strip()
    if not text.startswith("{"):
        return _period(argument), None
    value = _json(argument, {"period", "slip"}, {"period"})
    period = _period(str(value["period"]))
    slip = _integer(value.get("slip", 1), "slip", 1, 60)
    if period % slip:
        raise BadArgument(f"the slip time divides the period ({slip} does not divide {period})")
    return period, (slip if "slip" in value else None)


def _demand_request(
    value: tuple[int, int | None], meter: bytes, context: MeterContext
) -> Structure:
    period, slip = value
    if slip is None:
        return _set((OAD(0x4100, 2, 0), Data(_D.UNSIGNED, period)))
    # the meter refuses a period its current slip time does not divide: the slip goes to one
    # minute first, then the period, then the slip asked for (one request, in this order)
    return _set(
        (OAD(0x4101, 2, 0), Data(_D.UNSIGNED, 1)),
        (OAD(0x4100, 2, 0), Data(_D.UNSIGNED, period)),
        (OAD(0x4101, 2, 0), Data(_D.UNSIGNED, slip)),
    )


def _boolean(argument: str) -> bool:
    text = argument.strip().lower()
    if text not in ("true", "false"):
        raise BadArgument("the argument is true or false")
    return text == "true"


def _relay(method: int) -> Builder:
    return lambda value, meter, context: ActionRequest(1, OMD(0x8000, method, 0), Data(_D.NULL))


def _display_alarm(message: str, meter: bytes, context: MeterContext) -> Structure:
    # 8000 method 127 (alarm); the message is our extension of its NULL parameter
    parameter = Data(_D.VISIBLE_STRING, message) if message else Data(_D.NULL)
    return ActionRequest(1, OMD(0x8000, 127, 0), parameter)


def _time_sync(value: None, meter: bytes, context: MeterContext) -> Structure:
    now = DateTimeS.from_posix(round(context.now))
    return _set((OAD(0x4000, 2, 0), Data(_D.DATE_TIME_S, now)))


def _wallet(refund: bool) -> Builder:
    def build(amount: int, meter: bytes, context: MeterContext) -> Structure:
        if context.wallet is None:
            raise CommandRefused("a top-up or refund needs the cryptographic device")
        return ActionRequest(1, OMD(0xF100, 6, 0), context.wallet(meter, amount, refund))

    return build


def _tariff_request(value: Any, meter: bytes, context: MeterContext) -> Structure:
    table, switch_at, prices = value
    periods = (
        Data.structure(Data(_D.UNSIGNED, h), Data(_D.UNSIGNED, m), Data(_D.UNSIGNED, t))
        for h, m, t in table
    )
    when = Data(_D.DATE_TIME_S, DateTimeS.from_posix(int(switch_at)))
    items = [(OAD(0x4017, 2, 0), Data.array(Data.array(*periods))), (OAD(0x4009, 2, 0), when)]
    if prices:
        prices_data = Data.array(*(Data(_D.DOUBLE_LONG_UNSIGNED, p) for p in prices))
        items += [(OAD(0x4019, 2, 0), prices_data), (OAD(0x400A, 2, 0), when)]
    return _set(*items)


def _display_request(value: tuple[OAD, ...], meter: bytes, context: MeterContext) -> Structure:
    screens = (
        Data.structure(Data(_D.OAD, oad), Data(_D.UNSIGNED, n)) for n, oad in enumerate(value, 1)
    )
    return _set((OAD(0xF300, 2, 0), Data.array(*screens)))


def _threshold_request(value: Any, meter: bytes, context: MeterContext) -> Structure:
    event, limit, delay = value
    oi, attribute, _, scale, _, kind = THRESHOLDS[event]
    value = Data.structure(Data(kind, round(limit * scale)), Data(_D.UNSIGNED, delay))
    return _set((OAD(oi, attribute, 0), value))


def _credit_request(value: tuple[int, ...], meter: bytes, context: MeterContext) -> Structure:
    def amounts(*values: int) -> Data:
        return Data.structure(*(Data(_D.DOUBLE_LONG_UNSIGNED, v) for v in values))

    return _set((OAD(0x401E, 2, 0), amounts(*value[:2])), (OAD(0x401F, 2, 0), amounts(*value[2:])))


# approval rules


def _many(value: Any, meters: int, threshold: int) -> str:
    if meters > threshold:
        return (
            f"a parameter write to {meters} meters is more than {threshold}: a second person "
            "with the supervisor role must approve it"
        )
    return ""


def _amount_over(limit: int, what: str) -> Callable[[Any, int, int], str]:
    def needs(amount: int, meters: int, threshold: int) -> str:
        if amount > limit:
            return (
                f"a {what} of {amount} fen is more than {limit} fen: a second person with the "
                "supervisor role must approve it"
            )
        return _many(amount, meters, threshold)

    return needs


def _always(value: Any, meters: int, threshold: int) -> str:
    return "a tariff change always needs a second person's approval (it changes every bill)"


_NONE: dict[str, Any] = {"type": "none"}
_PARAMETERS = "a second person above the approval threshold of meters (10 by default)"

KINDS: dict[CommandKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            CommandKind.TRIP,
            "a second person past the solo trip budget (10 meters per person and district "
            "in 24 h by default)",
            "open the relay (8000 method 129)", _NONE, _none, _relay(129),
        ),
        KindSpec(
            CommandKind.CLOSE, "none",
            "allow the customer to close the relay (8000 method 130)", _NONE, _none, _relay(130),
        ),
        KindSpec(
            CommandKind.TIME_SYNC, "none",
            "set the meter's clock to the station's (4000); the drift is in the meter's clock "
            "report", _NONE, _none, _time_sync,
        ),
        KindSpec(
            CommandKind.TOP_UP,
            f"a second person above {TOP_UP_APPROVAL} fen per meter or the approval threshold "
            "of meters",
            "credit the meter's ESAM wallet (F100 method 6, the purchase count against replay)",
            {"type": "integer", "unit": "fen", "minimum": 1, "maximum": MAX_AMOUNT},
            lambda a: _whole(a, "amount in fen", 1, MAX_AMOUNT), _wallet(False),
            _amount_over(TOP_UP_APPROVAL, "top-up"),
        ),
        KindSpec(
            CommandKind.REFUND,
            f"a second person above {REFUND_APPROVAL} fen per meter or the approval threshold "
            "of meters",
            "take credit back out of the meter's ESAM wallet (F100 method 6, a refund SID)",
            {"type": "integer", "unit": "fen", "minimum": 1, "maximum": MAX_AMOUNT},
            lambda a: _whole(a, "amount in fen", 1, MAX_AMOUNT), _wallet(True),
            _amount_over(REFUND_APPROVAL, "refund"),
        ),
        KindSpec(
            CommandKind.CREDIT_LEVELS, _PARAMETERS,
            "the credit alarm levels (401E) and overdraft, hoarding and close-allowed "
            "limits (401F)",
            {"type": "object", "unit": "fen", "required": ["alarm1", "alarm2"],
             "properties": {k: {"type": "integer", "minimum": 0} for k in _LEVELS}},
            _credit_levels, _credit_request, _many,
        ),
        KindSpec(
            CommandKind.TARIFF, "always a second person",
            "a new time-of-use day table (4017), optionally its prices (4019), and the time "
            "they take over (4009, 400A)",
            {"type": "object", "required": ["periods", "switch_at"], "properties": {
                "periods": {"type": "array", "maxItems": MAX_PERIODS,
                            "items": ["hh:mm", {"type": "integer", "minimum": 1, "maximum": 4}]},
                "switch_at": {"type": "string", "format": "date-time"},
                "prices": {"type": "array", "maxItems": 4, "unit": "yuan/kWh",
                           "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 10}}}},
            _tariff_table, _tariff_request, _always,
        ),
        KindSpec(
            CommandKind.DISPLAY, _PARAMETERS,
            "the objects the display rotates through (F300)",
            {"type": "object", "required": ["objects"], "properties": {"objects": {
                "type": "array", "maxItems": MAX_DISPLAY_ITEMS,
                "items": {"type": "string", "pattern": "^[0-9A-Fa-f]{8}$"}}}},
            _display, _display_request, _many,
        ),
        KindSpec(
            CommandKind.DISPLAY_ALARM, _PARAMETERS,
            "sound the meter's alarm with a message on its display (8000 method 127; read "
            "back from FF12)",
            {"type": "string", "maxLength": MAX_ALARM_MESSAGE, "pattern": "^[ -~]*$"},
            _message, _display_alarm, _many,
        ),
        KindSpec(
            CommandKind.ALARM_RELEASE, "none",
            "release the meter's alarm and clear its message (8000 method 128)", _NONE, _none,
            _relay(128),
        ),
        KindSpec(
            CommandKind.DEMAND_PERIOD, _PARAMETERS,
            "the maximum-demand period (4100), and optionally its slip time (4101, dividing "
            "the period): a number of minutes, or {period, slip}",
            {"type": ["integer", "object"], "unit": "min", "enum": sorted(DEMAND_PERIODS),
             "properties": {"period": {"type": "integer", "enum": sorted(DEMAND_PERIODS)},
                            "slip": {"type": "integer", "minimum": 1, "maximum": 60}}},
            _demand_window, _demand_request, _many,
        ),
        KindSpec(
            CommandKind.MAY_EXPORT, _PARAMETERS,
            "whether the customer may export (FF11, vendor): true for rooftop PV; reverse "
            "energy on a meter that may not is a power-reversal event and a TAMPER",
            {"type": "boolean"},
            _boolean,
            lambda v, m, c: _set((OAD(0xFF11, 2, 0), Data(_D.BOOL, v))), _many,
        ),
        KindSpec(
            CommandKind.PILE_LIMIT, _PARAMETERS,
            "the charging pile's power limit (FF10; 0 = none)",
            {"type": "integer", "unit": "W", "minimum": 0, "maximum": 1_000_000},
            lambda a: _whole(a, "power limit in W", 0, 1_000_000),
            lambda v, m, c: _set((OAD(0xFF10, 2, 0), Data(_D.DOUBLE_LONG_UNSIGNED, v))), _many,
        ),
        KindSpec(
            CommandKind.EVENT_THRESHOLD, _PARAMETERS,
            "an event threshold, limit in the event's unit, delay in s: "
            + ", ".join(f"{name} ({t[0]:04X}, {t[2]})" for name, t in THRESHOLDS.items()),
            {"type": "object", "required": ["event", "limit"], "properties": {
                "event": {"enum": list(THRESHOLDS)},
                "limit": {"type": "number",
                          "unit": {name: t[2] for name, t in THRESHOLDS.items()}},
                "delay": {"type": "integer", "unit": "s", "minimum": 0, "maximum": 255}}},
            _threshold, _threshold_request, _many,
        ),
        KindSpec(
            CommandKind.FREEZE_OBJECTS, _PARAMETERS,
            "what a freeze object captures (class 9 attribute 3): add entries {oad, period, "
            "depth} (method 7) or delete an object (method 5), e.g. a pile's energy FF130200 "
            "in the 15-minute curve (minute)",
            FREEZE_ARGUMENT, parse_freeze,
            lambda v, m, c: freeze_request(v), _many,
        ),
    )
}  # fmt: skip


def _period(argument: str) -> int:
    minutes = _whole(argument, "demand period in minutes", 1, 60)
    if minutes not in DEMAND_PERIODS:
        raise BadArgument(f"the demand period is one of {sorted(DEMAND_PERIODS)} minutes")
    return minutes
