"""The "freeze objects" command: what a meter's freeze objects capture (DL/T 698.45 class 9,
attribute 3 "associated object attributes"), changed by ACTION method 7 (add several
entries; an entry of the same period and object replaces its old self) or method 5 (delete one
object), so the station decides what a meter's 15-minute curve or day freeze records: a
charging pile's energy (FF13) once a pile is fitted, a voltage column, ...

The argument is a JSON object: ``{"freeze": "minute", "add": [{"oad": "FF130200",
"period": 15, "depth": 2880}]}`` or ``{"freeze": "minute", "delete": "FF130200"}``. ``freeze``
names the object (instant 5000, second 5001, minute 5002, hour 5003, day 5004, settlement
5005, month 5006); ``period`` is in the object's own unit (minutes for 5002) and ``depth`` the
rows kept. A bad argument raises :class:`~wattguard.station.arguments.BadArgument` with what
is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattguard.meter.management.freezestore import FreezeAssociation, FreezeObject
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.station.arguments import BadArgument, json_object, oad_argument, whole_number

__all__ = ["ARGUMENT", "FreezeChange", "parse", "request"]

#: The most entries one command adds (a meter's curve has a few dozen columns at most).
MAX_ENTRIES = 16

#: The argument's description for a command form (GET /api/command-kinds).
ARGUMENT: dict[str, Any] = {
    "type": "object", "required": ["freeze"],
    "properties": {
        "freeze": {"enum": [k.name.lower() for k in FreezeObject]},
        "add": {"type": "array", "maxItems": MAX_ENTRIES, "items": {
            "type": "object", "required": ["oad", "period", "depth"], "properties": {
                "oad": {"type": "string", "pattern": "^[0-9A-Fa-f]{8}$"},
                "period": {"type": "integer", "minimum": 1, "maximum": 65535},
                "depth": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
        "delete": {"type": "string", "pattern": "^[0-9A-Fa-f]{8}$"},
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class FreezeChange:
    """A checked argument: the freeze object, and the entries to add or the object to delete."""

    freeze: FreezeObject
    add: tuple[FreezeAssociation, ...] = ()
    delete: OAD | None = None


def parse(argument: str) -> FreezeChange:
    """The change ``argument`` asks for (see the module); BadArgument says what is wrong."""
    value = json_object(argument, {"freeze", "add", "delete"}, {"freeze"})
    kinds = {k.name.lower(): k for k in FreezeObject}
    name = value["freeze"]
    if name not in kinds:
        raise BadArgument(f"freeze is one of {', '.join(kinds)}")
    if ("add" in value) == ("delete" in value):
        raise BadArgument("give either add (a list of entries) or delete (an OAD)")
    if "delete" in value:
        return FreezeChange(kinds[name], delete=oad_argument(value["delete"]))
    entries = value["add"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
        raise BadArgument(f"add is a list of 1 to {MAX_ENTRIES} entries")
    return FreezeChange(kinds[name], add=tuple(_entry(e) for e in entries))


def request(change: FreezeChange) -> ActionRequest:
    """The ACTION (PIID 1) that makes ``change`` at a meter."""
    if change.delete is not None:
        return ActionRequest(1, OMD(change.freeze, 5, 0), Data(DataType.OAD, change.delete))
    entries = Data.array(*(entry.to_data() for entry in change.add))
    return ActionRequest(1, OMD(change.freeze, 7, 0), entries)


def _entry(value: object) -> FreezeAssociation:
    if not isinstance(value, dict) or set(value) != {"oad", "period", "depth"}:
        raise BadArgument('an entry is {"oad": 8 hex digits, "period": n, "depth": n}')
    period = whole_number(value["period"], "period", 1, 65535)
    depth = whole_number(value["depth"], "depth", 1, 65535)
    return FreezeAssociation(period, oad_argument(value["oad"]), depth)
