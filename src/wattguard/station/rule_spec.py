"""What a station rule says, as a small declarative structure: its condition and its action,
read from JSON, checked with an error that says where, never evaluated as code.

Theory of operation. A rule's condition and action arrive as JSON (the REST API's body, or
the database's column). :func:`parse_condition` and :func:`parse_action` turn them into the
frozen dataclasses below, or raise :class:`RuleInvalid` naming the path of the first bad
part (``condition.reading.outside``) and what it should be; :func:`condition_json` and
:func:`action_json` give the JSON back, so what is stored is always what was checked. Nothing
in a rule is ever run as code: a quantity is an OAD, a kind is a name from a closed list,
limits are numbers.

Conditions (each an object with exactly one key naming its type)::

    {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300,
                 "meters": ["000000000001"]}}          a meter's value (above | below | outside)
    {"event": {"operational": "credit low", "count": 1, "within": 3600}}
    {"event": {"security": "tamper"}}                 a meter's (or a source's) events
    {"district_load": {"terminal": "0000000000f1", "capacity_kw": 100, "above_share": 0.9,
                       "for": 0, "quantity": "50020200/00100201",
                       "supply_meter": "000001000000"}}   the supply meter's load
    {"time": {"between": ["18:00", "22:00"], "weekdays": [0, 1, 2, 3, 4]}}   UTC, 0 = Monday
    {"all": [condition, ...]}                         every one holds

A district's supply meter is the one the station registered, and stored, as the terminal's
total meter (``Station.register_total_meter``; the deployment registers each district's) unless
the condition names another (``supply_meter``).

An ``all`` combines at most one condition that names meters or a district (reading, event,
district_load) with time conditions: the rule then fires for the meters (or district) that
one matches, while the times hold.

Actions::

    {"command": {"kind": "trip", "argument": "", "targets": "matched"}}
    {"alert": {"severity": "warning", "message": "voltage out of band"}}

A command's ``kind`` is the name of a :class:`~wattguard.station.commands.CommandKind`
(whatever kinds the station has: a kind added there is usable here at once) and its
``targets`` are ``"matched"`` (the meters whose values made the condition true), ``"district"``
(every meter behind the matched meters' or district's terminal) or a list of addresses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattguard.errors import ConfigError
from wattguard.events import EventKind
from wattguard.protocol.objects import Unit, lookup
from wattguard.station.commands import CommandKind
from wattguard.station.records import InvalidRecord, OperationalKind, normalise_quantity, shown

__all__ = [
    "Action",
    "AlertAction",
    "AllOf",
    "CommandAction",
    "Condition",
    "DistrictLoad",
    "EventCondition",
    "ReadingCondition",
    "RuleInvalid",
    "TimeWindow",
    "action_json",
    "condition_json",
    "load_unit",
    "parse_action",
    "parse_condition",
    "subject_condition",
]

#: The most meters a condition or an action may list, conditions an ``all`` may hold.
MAX_METERS = 1000
MAX_PARTS = 8
#: The supply meter's total forward energy in the 15-minute curve (kWh): the default load of a
#: district is its rise over each interval (what the energy balance reads).
LOAD = "50020200/00100201"
#: The units a district's load may be read in: an energy register (its rise over time) or a
#: power.
_LOAD_UNITS = (Unit.KWH, Unit.W, Unit.KW)
_ADDRESS = re.compile(r"[0-9a-fA-F]{12}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SEVERITIES = ("info", "warning", "critical")
_TARGETS = ("matched", "district")


class RuleInvalid(ConfigError, ValueError):
    """A rule's condition or action is not what a rule may say; the message names where."""


@dataclass(frozen=True, slots=True)
class Band:
    """A value is out of it when above ``above``, below ``below``, or outside both."""

    above: float | None = None
    below: float | None = None

    def out(self, value: float) -> bool:
        """Whether ``value`` makes the condition true."""
        high = self.above is not None and value > self.above
        low = self.below is not None and value < self.below
        return high or low


@dataclass(frozen=True, slots=True)
class ReadingCondition:
    """A meter's ``quantity`` out of ``band`` over at least ``hold`` seconds of its readings
    (any meter, or those of ``meters``)."""

    quantity: str
    band: Band
    hold: float = 0.0
    meters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventCondition:
    """``count`` events of ``kind`` (a security or an operational kind, given by its name,
    ``"unauthorised"``, or its value, ``"credit low"``) of one meter, or one source, within
    ``within`` seconds."""

    family: str  # "security" | "operational"
    kind: str  # the kind's value, e.g. "unauthorised command", "credit low"
    count: int = 1
    within: float = 3600.0


@dataclass(frozen=True, slots=True)
class DistrictLoad:
    """The load of ``terminal``'s district (its supply meter's ``quantity``: the rise of an
    energy register over time, or a power) above
    ``above_share`` of ``capacity_kw`` for at least ``hold`` seconds of its readings."""

    terminal: str
    capacity_kw: float
    above_share: float
    hold: float = 0.0
    quantity: str = LOAD
    supply_meter: str | None = None  # None: the total meter registered for the terminal


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The station's time of day (UTC) from ``start`` to ``end`` minutes after midnight (over
    midnight when ``end < start``), on ``weekdays`` (0 = Monday)."""

    start: int
    end: int
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

    def holds(self, now: float) -> bool:
        """Whether ``now`` (POSIX seconds) is inside the window."""
        day, seconds = divmod(math.floor(now), 86_400)
        minute = seconds // 60
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        if self.start <= self.end:
            inside = self.start <= minute < self.end
        else:
            inside = minute >= self.start or minute < self.end
            if minute < self.end:  # the window began the day before
                weekday = (weekday - 1) % 7
        return inside and weekday in self.weekdays


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part holds (at most one part names meters or a district)."""

    parts: tuple[Condition, ...]


Condition = ReadingCondition | EventCondition | DistrictLoad | TimeWindow | AllOf


@dataclass(frozen=True, slots=True)
class CommandAction:
    """Issue a command of ``kind`` with ``argument`` to ``targets`` ("matched", "district", or
    addresses) under the rule owner's name and role."""

    kind: str
    argument: str = ""
    targets: str | tuple[str, ...] = "matched"


@dataclass(frozen=True, slots=True)
class AlertAction:
    """Open (or bump) an operational alert of ``severity`` saying ``message``."""

    severity: str = "warning"
    message: str = ""


Action = CommandAction | AlertAction


def subject_condition(condition: Condition) -> Condition | None:
    """The part of ``condition`` that names meters or a district (None: only times)."""
    if isinstance(condition, AllOf):
        found = [subject_condition(part) for part in condition.parts]
        return next((part for part in found if part is not None), None)
    return None if isinstance(condition, TimeWindow) else condition


# reading JSON


def _fail(path: str, why: str) -> RuleInvalid:
    return RuleInvalid(f"{path}: {why}")


def _object(value: object, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise _fail(path, f"unknown key {shown(unknown[0])}; one of {', '.join(allowed)}")
    return value


def _one_key(value: object, path: str, allowed: Sequence[str]) -> tuple[str, Any]:
    body = _object(value, path, allowed)
    if len(body) != 1:
        raise _fail(path, f"must have exactly one key: one of {', '.join(allowed)}")
    return next(iter(body.items()))


def _number(value: object, path: str, *, low: float = -1e15, high: float = 1e15) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, "must be a number")
    if not low <= value <= high:
        raise _fail(path, f"must be from {low:g} to {high:g}")
    return float(value)


def _quantity(value: object, path: str) -> str:
    try:
        return normalise_quantity(value)
    except InvalidRecord:
        raise _fail(
            path, "must be an OAD: 8 hex digits, optionally after a record OAD and /"
        ) from None


def _address(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise _fail(path, f"{shown(value)} is not an address of 12 hex digits")
    return value.lower()


def _addresses(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_METERS:
        raise _fail(path, f"must be a list of 1 to {MAX_METERS} addresses")
    found = tuple(_address(item, f"{path}[{i}]") for i, item in enumerate(value))
    if len(set(found)) != len(found):
        raise _fail(path, "names a meter twice")
    return found


def _band(body: Mapping[str, Any], path: str) -> Band:
    given = [key for key in ("above", "below", "outside") if key in body]
    if len(given) != 1:
        raise _fail(path, "needs exactly one of above, below, outside")
    key = given[0]
    if key == "above":
        return Band(above=_number(body[key], f"{path}.above"))
    if key == "below":
        return Band(below=_number(body[key], f"{path}.below"))
    pair = body[key]
    if not isinstance(pair, list) or len(pair) != 2:
        raise _fail(f"{path}.outside", "must be [low, high]")
    low = _number(pair[0], f"{path}.outside[0]")
    high = _number(pair[1], f"{path}.outside[1]")
    if low >= high:
        raise _fail(f"{path}.outside", "low must be below high")
    return Band(above=high, below=low)


def _hold(body: Mapping[str, Any], path: str) -> float:
    return _number(body.get("for", 0), f"{path}.for", low=0, high=366 * 86_400)


def _reading(value: object, path: str) -> ReadingCondition:
    body = _object(value, path, ("quantity", "above", "below", "outside", "for", "meters"))
    if "quantity" not in body:
        raise _fail(path, "needs a quantity")
    meters = _addresses(body["meters"], f"{path}.meters") if "meters" in body else ()
    return ReadingCondition(
        _quantity(body["quantity"], f"{path}.quantity"), _band(body, path), _hold(body, path),
        meters,
    )  # fmt: skip


def _event(value: object, path: str) -> EventCondition:
    body = _object(value, path, ("security", "operational", "count", "within"))
    families = [key for key in ("security", "operational") if key in body]
    if len(families) != 1:
        raise _fail(path, "needs exactly one of security, operational (the event's kind)")
    family = families[0]
    kinds = list(EventKind if family == "security" else OperationalKind)
    kind = body[family]
    # a kind by its name ("unauthorised", "credit_low") or its value ("credit low")
    wanted = kind.lower().replace(" ", "_") if isinstance(kind, str) else None
    found = next((k for k in kinds if wanted in (k.name.lower(), k.value.replace(" ", "_"))), None)
    if found is None:
        names = ", ".join(k.name.lower() for k in kinds)
        raise _fail(f"{path}.{family}", f"unknown kind {shown(kind)}; one of {names}")
    count = _number(body.get("count", 1), f"{path}.count", low=1, high=10_000)
    if count != int(count):
        raise _fail(f"{path}.count", "must be a whole number")
    within = _number(body.get("within", 3600), f"{path}.within", low=1, high=366 * 86_400)
    return EventCondition(family, found.value, int(count), within)


def _district(value: object, path: str) -> DistrictLoad:
    keys = ("terminal", "capacity_kw", "above_share", "for", "quantity", "supply_meter")
    body = _object(value, path, keys)
    missing = [key for key in keys[:3] if key not in body]
    if missing:
        raise _fail(path, f"needs {', '.join(missing)}")
    return DistrictLoad(
        _address(body["terminal"], f"{path}.terminal"),
        _number(body["capacity_kw"], f"{path}.capacity_kw", low=0.001, high=1e9),
        _number(body["above_share"], f"{path}.above_share", low=0.01, high=10),
        _hold(body, path),
        _load_quantity(body.get("quantity", LOAD), f"{path}.quantity"),
        _address(body["supply_meter"], f"{path}.supply_meter") if "supply_meter" in body else None,
    )


def load_unit(quantity: str) -> Unit:
    """The unit of a district load's ``quantity`` (its column's object in the catalogue)."""
    info = lookup(int(quantity.rpartition("/")[2][:4], 16))
    return Unit.NONE if info is None or info.unit is None else info.unit


def _load_quantity(value: object, path: str) -> str:
    quantity = _quantity(value, path)
    if load_unit(quantity) not in _LOAD_UNITS:
        raise _fail(path, "must be an energy (kWh) or an active power (W, kW) of the catalogue")
    return quantity


def _minutes(value: object, path: str) -> int:
    found = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise _fail(path, "must be a time of day HH:MM (UTC)")
    return int(found.group(1)) * 60 + int(found.group(2))


def _time(value: object, path: str) -> TimeWindow:
    body = _object(value, path, ("between", "weekdays"))
    pair = body.get("between")
    if not isinstance(pair, list) or len(pair) != 2:
        raise _fail(f"{path}.between", 'must be ["HH:MM", "HH:MM"] (UTC)')
    start, end = _minutes(pair[0], f"{path}.between[0]"), _minutes(pair[1], f"{path}.between[1]")
    if start == end:
        raise _fail(f"{path}.between", "the window is empty")
    days = body.get("weekdays", list(range(7)))
    if (
        not isinstance(days, list)
        or not days
        or any(isinstance(d, bool) or d not in range(7) for d in days)
    ):
        raise _fail(f"{path}.weekdays", "must be a list of days 0 (Monday) to 6 (Sunday)")
    return TimeWindow(start, end, tuple(sorted(set(days))))


def parse_condition(value: object, path: str = "condition", depth: int = 0) -> Condition:
    """The condition ``value`` (parsed JSON) describes; :class:`RuleInvalid` if it is not one."""
    kind, body = _one_key(value, path, ("reading", "event", "district_load", "time", "all"))
    where = f"{path}.{kind}"
    if kind == "reading":
        return _reading(body, where)
    if kind == "event":
        return _event(body, where)
    if kind == "district_load":
        return _district(body, where)
    if kind == "time":
        return _time(body, where)
    if depth >= 1:
        raise _fail(where, "an all inside an all is not needed: list the parts in one")
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_PARTS:
        raise _fail(where, f"must be a list of 1 to {MAX_PARTS} conditions")
    parts = tuple(parse_condition(p, f"{where}[{i}]", depth + 1) for i, p in enumerate(body))
    if sum(subject_condition(part) is not None for part in parts) > 1:
        raise _fail(where, "combine at most one reading, event or district_load with times")
    return AllOf(parts)


def parse_action(value: object, path: str = "action") -> Action:
    """The action ``value`` (parsed JSON) describes; :class:`RuleInvalid` if it is not one."""
    kind, body = _one_key(value, path, ("command", "alert"))
    where = f"{path}.{kind}"
    if kind == "alert":
        fields = _object(body, where, ("severity", "message"))
        severity = fields.get("severity", "warning")
        if severity not in _SEVERITIES:
            raise _fail(f"{where}.severity", f"one of {', '.join(_SEVERITIES)}")
        message = fields.get("message", "")
        if not isinstance(message, str) or len(message) > 200 or not message.isprintable():
            raise _fail(f"{where}.message", "must be printable text of at most 200 characters")
        return AlertAction(severity, message)
    fields = _object(body, where, ("kind", "argument", "targets"))
    names = [k.value for k in CommandKind]
    if fields.get("kind") not in names:
        raise _fail(f"{where}.kind", f"unknown command kind; one of {', '.join(names)}")
    argument = fields.get("argument", "")
    if not isinstance(argument, str) or len(argument) > 1000 or not argument.isprintable():
        raise _fail(f"{where}.argument", "must be printable text of at most 1000 characters")
    targets = fields.get("targets", "matched")
    if isinstance(targets, str):
        if targets not in _TARGETS:
            raise _fail(f"{where}.targets", 'must be "matched", "district" or a list of meters')
        return CommandAction(fields["kind"], argument, targets)
    return CommandAction(fields["kind"], argument, _addresses(targets, f"{where}.targets"))


# writing JSON


def _band_json(band: Band) -> dict[str, Any]:
    if band.above is not None and band.below is not None:
        return {"outside": [band.below, band.above]}
    return {"above": band.above} if band.above is not None else {"below": band.below}


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def condition_json(condition: Condition) -> dict[str, Any]:
    """``condition`` as the JSON :func:`parse_condition` reads back to it."""
    if isinstance(condition, ReadingCondition):
        body: dict[str, Any] = {"quantity": condition.quantity, **_band_json(condition.band)}
        body["for"] = condition.hold
        if condition.meters:
            body["meters"] = list(condition.meters)
        return {"reading": body}
    if isinstance(condition, EventCondition):
        return {
            "event": {condition.family: condition.kind, "count": condition.count,
                      "within": condition.within}
        }  # fmt: skip
    if isinstance(condition, DistrictLoad):
        body = {
            "terminal": condition.terminal, "capacity_kw": condition.capacity_kw,
            "above_share": condition.above_share, "for": condition.hold,
            "quantity": condition.quantity,
        }  # fmt: skip
        if condition.supply_meter is not None:
            body["supply_meter"] = condition.supply_meter
        return {"district_load": body}
    if isinstance(condition, TimeWindow):
        between = [_clock(condition.start), _clock(condition.end)]
        return {"time": {"between": between, "weekdays": list(condition.weekdays)}}
    return {"all": [condition_json(part) for part in condition.parts]}


def action_json(action: Action) -> dict[str, Any]:
    """``action`` as the JSON :func:`parse_action` reads back to it."""
    if isinstance(action, AlertAction):
        return {"alert": {"severity": action.severity, "message": action.message}}
    targets = action.targets if isinstance(action.targets, str) else list(action.targets)
    return {"command": {"kind": action.kind, "argument": action.argument, "targets": targets}}
