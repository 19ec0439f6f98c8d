"""The meter's freezes (DL/T 698.45 interface class 9, objects 5000-5006): the values of
chosen attributes taken at fixed calendar moments and kept as records a station reads with
GET-Request-Record.

Theory of operation. Each freeze object has an *associated object attribute table*
(attribute 3): array of structure {period long-unsigned, OAD, depth long-unsigned}. The
period is in the object's unit: seconds (5001), minutes (5002), hours (5003), days (5004),
months (5005 at the settlement day and hour, 5006 on the 1st at 00:00); 5000 (instant)
freezes only when method 3 triggers it. Entries of equal (period, depth) form one
:class:`~wattguard.meter.management.freezestore.Group`, a numpy ring of that depth. Boundaries fall
at whole multiples of the period counted from the calendar's epoch, so 15-minute freezes land
at :00, :15, :30, :45 and day freezes at 00:00 of the meter's calendar (``now`` plus the
clock offset; :meth:`Freezer.step` is given the calendar, not ``now``).

A record (attribute 2) is {2023 freeze record number, 2021 freeze time, the associated
attributes' values}; records of different groups taken at the same moment are one record
with one number, and a column not frozen at that moment reads NULL. Reading goes through
:func:`~wattguard.meter.management.records.select` (selectors 0, 1, 2, 3, 9, 10; bounded answers).

When :meth:`Freezer.step` finds boundaries it has not handled (it remembers, per group, the
calendar time it reached):

* a boundary at most ``grace`` seconds old is frozen with the values read now;
* older boundaries of the minute, second and hour freezes are *not* invented: after a power
  outage or a forward clock set the curve has a gap, because nothing was measured there and
  a record would claim values the meter never saw;
* older boundaries of the day, settlement and month freezes are filled, the most recent 7
  days or 12 months at most, as the Q/GDW smart-meter function specifications ask of a
  meter that was off at midnight (docs/protocol.md). The registers do not move while the
  meter is off, so the energies and maximum demands (OI below 2000) read now are the true
  values at the missed moment; instantaneous columns of a filled record are NULL.
* after a backward clock set no boundary at or before the time already reached is frozen
  again: freeze times stay strictly increasing and no moment is recorded twice.

Changing attribute 3 (SET, or methods 4, 5, 7, 8) keeps the rows of the groups that remain
and of the columns that remain; a new column reads NULL in rows taken before it was added.
The store is compact and survives power loss through :meth:`Freezer.to_bytes` /
:meth:`Freezer.from_bytes`; an optional ``persist(key, blob)`` callback (a
``Store.put``) receives each object's bytes after it changes.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence

from wattguard.errors import ConfigError, DecodeError
from wattguard.meter.management.freezestore import (
    FREEZE_NUMBER,
    FREEZE_TIME,
    FreezeAssociation,
    FreezeObject,
    FreezeTable,
    Group,
)
from wattguard.meter.management.model import ObjectModel, refuse
from wattguard.meter.management.records import MAX_ANSWER_BYTES, select
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import DAR, AResultRecord
from wattguard.protocol.apdu.get import GetRecord
from wattguard.protocol.axdr import Reader
from wattguard.protocol.objects import MINUTE_FREEZE_COLUMNS

__all__ = [
    "FREEZE_NUMBER",
    "FREEZE_TIME",
    "FreezeAssociation",
    "FreezeObject",
    "Freezer",
    "expose_freezes",
]

#: Bounds on attribute 3: entries per object, rows per group, and cells per object.
MAX_ENTRIES = 64
MAX_DEPTH = 65535
MAX_CELLS = 2_000_000
#: How many missed boundaries a day / settlement / month freeze fills (docs/protocol.md).
BACKFILL = {"day": 7, "month": 12}
_MAGIC = b"WGF1"

Reader_ = Callable[[OAD], Data | DAR]


#: Seconds per period unit of the fixed-unit freezes.
_UNIT = {
    FreezeObject.SECOND: 1,
    FreezeObject.MINUTE: 60,
    FreezeObject.HOUR: 3600,
    FreezeObject.DAY: 86400,
}
_MONTHLY = (FreezeObject.SETTLEMENT, FreezeObject.MONTH)
_FILLED = (FreezeObject.DAY, *_MONTHLY)


def default_associations(read: Reader_) -> dict[FreezeObject, list[FreezeAssociation]]:
    """What a wattguard meter freezes out of the box: the minute curve every 15 minutes for
    7 days, energies hourly for 7 days, energies and demand daily for 62 days and monthly for
    12 months, three instant freezes; the second and settlement freezes start empty. Only
    the attributes ``read`` knows are included (demand, 1010, where the meter exposes it)."""
    missing = (DAR.OBJECT_UNDEFINED, DAR.OBJECT_NOT_EXIST)

    def known(*oads: OAD) -> list[OAD]:
        return [oad for oad in oads if read(oad) not in missing]

    energies = known(OAD(0x0010, 2), OAD(0x0020, 2))
    billing = energies + known(OAD(0x1010, 2))
    curve = known(*(oad for oad in MINUTE_FREEZE_COLUMNS if oad != FREEZE_TIME))
    return {
        FreezeObject.INSTANT: [FreezeAssociation(0, oad, 3) for oad in curve],
        FreezeObject.MINUTE: [FreezeAssociation(15, oad, 672) for oad in curve],
        FreezeObject.HOUR: [FreezeAssociation(1, oad, 168) for oad in energies],
        FreezeObject.DAY: [FreezeAssociation(1, oad, 62) for oad in billing],
        FreezeObject.MONTH: [FreezeAssociation(1, oad, 12) for oad in billing],
    }


class Freezer:
    """The freeze objects 5000-5006 of one meter.

    ``read`` gives an attribute's current value (the object model's ``get``); ``grace`` is
    how late (seconds) a boundary may be seen and still be frozen with live values; drive
    :meth:`step` with the meter's calendar at the moment :meth:`next_due` names (or more
    often: a step with nothing due changes nothing)."""

    def __init__(
        self,
        read: Reader_,
        *,
        associations: Mapping[FreezeObject, Sequence[FreezeAssociation]] | None = None,
        grace: float = 60.0,
        settlement: tuple[int, int] = (1, 0),
        persist: Callable[[str, bytes], None] | None = None,
        budget: int = MAX_ANSWER_BYTES,
    ) -> None:
        day, hour = settlement
        if not (1 <= day <= 28 and 0 <= hour <= 23):
            raise ConfigError("the settlement moment is day 1-28 at hour 0-23")
        self.read = read
        self.grace = grace
        self.settlement = settlement
        self.persist = persist
        self.budget = budget
        self.tables = {kind: FreezeTable(kind) for kind in FreezeObject}
        chosen = default_associations(read) if associations is None else associations
        for kind, entries in chosen.items():
            self.set_association(kind, entries)

    # attribute 3 and the methods

    def association(self, kind: FreezeObject) -> Data:
        return Data.array(*(entry.to_data() for entry in self.tables[kind].entries))

    def set_association(self, kind: FreezeObject, entries: Iterable[FreezeAssociation]) -> None:
        """Replace attribute 3; a bad table raises ProtocolError with its DAR, changing nothing."""
        entries = list(entries)
        if len(entries) > MAX_ENTRIES:
            raise refuse(DAR.OUT_OF_RANGE, f"at most {MAX_ENTRIES} associated attributes")
        if len({(e.period, e.oad) for e in entries}) != len(entries):
            raise refuse(DAR.OUT_OF_RANGE, "an attribute is associated twice at one period")
        if sum(e.depth for e in entries) > MAX_CELLS // 10:
            raise refuse(DAR.OUT_OF_RANGE, "the depths exceed the freeze memory")
        for entry in entries:
            self._check(kind, entry)
        table = self.tables[kind]
        table.associate(entries)
        self._saved(table)

    def _check(self, kind: FreezeObject, entry: FreezeAssociation) -> None:
        if not 1 <= entry.depth <= MAX_DEPTH:
            raise refuse(DAR.OUT_OF_RANGE, f"depth {entry.depth} is not 1..{MAX_DEPTH}")
        if kind != FreezeObject.INSTANT and not entry.period:
            raise refuse(DAR.OUT_OF_RANGE, "a scheduled freeze needs a period of at least 1")
        if entry.oad in (FREEZE_TIME, FREEZE_NUMBER) or entry.oad.element:
            raise refuse(DAR.OUT_OF_RANGE, f"{entry.oad} cannot be an associated attribute")
        value = self.read(entry.oad)
        if value in (DAR.OBJECT_UNDEFINED, DAR.OBJECT_NOT_EXIST):
            raise refuse(DAR(value), f"{entry.oad} is not an attribute of this meter")

    def add(self, kind: FreezeObject, entry: FreezeAssociation) -> None:
        """Method 4 (and 7 for each): add, or replace the depth at the same period."""
        kept = [e for e in self.tables[kind].entries if (e.period, e.oad) != entry[:2]]
        self.set_association(kind, [*kept, entry])

    def delete(self, kind: FreezeObject, oad: OAD) -> None:
        """Method 5: drop ``oad`` at every period."""
        entries = self.tables[kind].entries
        if all(e.oad != oad for e in entries):
            raise refuse(DAR.OBJECT_NOT_EXIST, f"{oad} is not associated")
        self.set_association(kind, [e for e in entries if e.oad != oad])

    def reset(self, kind: FreezeObject) -> None:
        """Method 1: clear the records (the record numbers continue)."""
        table = self.tables[kind]
        for group in table.groups.values():
            group.clear()
        table.changed()
        self._saved(table)

    def trigger(self, kind: FreezeObject, calendar: float) -> None:
        """Method 3: one record now, in every group of the object."""
        table = self.tables[kind]
        moment = math.floor(calendar)
        if any((group.newest() or -math.inf) >= moment for group in table.groups.values()):
            raise refuse(DAR.TEMPORARY_FAILURE, "a record already holds this second")
        if not table.groups:
            return
        table.seq += 1
        cache: dict[OAD, Data | None] = {}
        for group in table.groups.values():
            group.append(moment, table.seq, self._values(group, cache, filled=False))
            group.last = max(group.last if group.last is not None else -math.inf, calendar)
        table.changed()
        self._saved(table)

    # time

    def step(self, calendar: float) -> int:
        """Freeze what is due at the meter's ``calendar``; returns the records taken."""
        cache: dict[OAD, Data | None] = {}
        taken = 0
        for table in self.tables.values():
            due: list[tuple[int, Group, bool]] = []
            started = False
            for group in table.groups.values():
                if group.last is None:  # a new group counts from its first step: saved once
                    group.last, started = calendar - self.grace, True
                due += [(b, group, filled) for b, filled in self._due(table.kind, group, calendar)]
                group.last = max(group.last, calendar)
            for moment in sorted({b for b, _, _ in due}):
                table.seq += 1
                taken += 1
                for b, group, filled in due:
                    if b == moment:
                        group.append(moment, table.seq, self._values(group, cache, filled))
            if due:
                table.changed()
            if due or started:
                self._saved(table)
        return taken

    def next_due(self) -> float | None:
        """The earliest calendar moment at which :meth:`step` has a boundary to freeze;
        ``-inf`` when a group has not been stepped yet (its first step starts its count),
        None when nothing is scheduled (only instant freezes, or none)."""
        moments = [
            self._next_boundary(table.kind, group)
            for table in self.tables.values()
            if table.kind != FreezeObject.INSTANT
            for group in table.groups.values()
        ]
        return min(moments, default=None)

    def _next_boundary(self, kind: FreezeObject, group: Group) -> float:
        """The first boundary of ``group`` after the calendar time it reached."""
        if group.last is None:
            return -math.inf
        if kind in _UNIT:
            step = _UNIT[kind] * group.period
            return float((math.floor(group.last / step) + 1) * step)
        day, hour = self._moment(kind)
        index = self._month(group.period, group.last, day, hour) + group.period
        return float(_month_start(index, day, hour))

    def _due(self, kind: FreezeObject, group: Group, now: float) -> list[tuple[int, bool]]:
        """Boundaries in (group.last, now], oldest first, each with "filled" (too late to be
        live: only the day, settlement and month freezes fill, at most BACKFILL of them)."""
        if kind == FreezeObject.INSTANT:
            return []
        last = group.last if group.last is not None else now
        limit = BACKFILL["day"] if kind == FreezeObject.DAY else BACKFILL["month"]
        out: list[tuple[int, bool]] = []
        for boundary in self._boundaries(kind, group.period, now):
            if boundary <= last:
                break
            late = now - boundary > self.grace
            if late and (kind not in _FILLED or len(out) >= limit):
                break
            out.append((boundary, late))
        return out[::-1]

    def _boundaries(self, kind: FreezeObject, period: int, now: float) -> Iterable[int]:
        """Boundaries at or before ``now``, newest first (an endless generator)."""
        if kind in _UNIT:
            step = _UNIT[kind] * period
            boundary = math.floor(now / step) * step
            while True:
                yield boundary
                boundary -= step
        day, hour = self._moment(kind)
        index = self._month(period, now, day, hour)
        while index > 0:
            yield _month_start(index, day, hour)
            index -= period

    def _moment(self, kind: FreezeObject) -> tuple[int, int]:
        """(day, hour) of the month at which a monthly freeze of ``kind`` falls."""
        return self.settlement if kind == FreezeObject.SETTLEMENT else (1, 0)

    @staticmethod
    def _month(period: int, now: float, day: int, hour: int) -> int:
        """The index (year * 12 + month - 1) of the newest monthly boundary at or before
        ``now`` that falls on a whole multiple of ``period`` months."""
        moment = dt.datetime.fromtimestamp(math.floor(now), dt.UTC)
        index = moment.year * 12 + moment.month - 1
        if _month_start(index, day, hour) > now:
            index -= 1
        return index - index % period

    def _values(
        self, group: Group, cache: dict[OAD, Data | None], filled: bool
    ) -> dict[OAD, Data | None]:
        out: dict[OAD, Data | None] = {}
        for oad in group.columns:
            if filled and oad.oi >= 0x2000:
                out[oad] = None  # an instantaneous value of a moment the meter was off
                continue
            if oad not in cache:
                value = self.read(oad)
                cache[oad] = value if isinstance(value, Data) else None
            out[oad] = cache[oad]
        return out

    # reading

    def records(self, request: GetRecord) -> AResultRecord:
        """GET-Request-Record of attribute 2 of a freeze object."""
        try:
            table = self.tables[FreezeObject(request.oad.oi)]
        except ValueError:
            return AResultRecord(request.oad, request.columns, DAR.OBJECT_UNDEFINED)
        if request.oad.attribute != 2:
            return AResultRecord(request.oad, request.columns, DAR.OBJECT_NOT_EXIST)
        return select(table, request, self.budget)

    def table(self, kind: FreezeObject) -> FreezeTable:
        return self.tables[kind]

    # bytes

    def object_bytes(self, kind: FreezeObject) -> bytes:
        return self.tables[kind].to_bytes()

    def _saved(self, table: FreezeTable) -> None:
        if self.persist is not None:
            self.persist(f"freeze/{table.kind:04X}", table.to_bytes())

    def load_object(self, blob: bytes) -> None:
        """Restore one object from :meth:`object_bytes`; raises DecodeError if malformed."""
        reader = Reader(blob)
        try:
            table = FreezeTable.read(reader)
        except (struct.error, ValueError) as exc:
            raise DecodeError(f"freeze object: {exc}", offset=reader.pos) from None
        reader.finish()
        self.tables[table.kind] = table

    def to_bytes(self) -> bytes:
        blobs = [table.to_bytes() for table in self.tables.values()]
        return _MAGIC + bytes((len(blobs),)) + b"".join(blobs)

    @classmethod
    def from_bytes(cls, data: bytes, read: Reader_, **options: object) -> Freezer:
        """A freezer restored from :meth:`to_bytes` (after a power loss); raises DecodeError."""
        if data[:4] != _MAGIC or len(data) < 5:
            raise DecodeError("not a wattguard freeze store", offset=0)
        freezer = cls(read, associations={}, **options)  # type: ignore[arg-type]
        reader = Reader(data, 5)
        try:
            for _ in range(data[4]):
                table = FreezeTable.read(reader)
                freezer.tables[table.kind] = table
        except (struct.error, ValueError) as exc:
            raise DecodeError(f"freeze store: {exc}", offset=reader.pos) from None
        reader.finish()
        return freezer


def _month_start(index: int, day: int, hour: int) -> int:
    year, month = divmod(index, 12)
    day = min(day, _calendar.monthrange(year, month + 1)[1])
    return int(dt.datetime(year, month + 1, day, hour, tzinfo=dt.UTC).timestamp())


def expose_freezes(
    model: ObjectModel,
    freezer: Freezer,
    calendar: Callable[[], float],
    kinds: Iterable[FreezeObject] = FreezeObject,
) -> None:
    """Register the freeze objects on ``model``: attribute 2 as records, attribute 3 read and
    SET, methods 1 (reset), 3 (trigger now, parameter long-unsigned, its value unused),
    4 (add), 5 (delete), 7 (add several), 8 (clear attribute 3)."""
    for kind in kinds:
        model.add_records(kind, 2, freezer.records)
        model.add_attribute(kind, 3, _getter(freezer, kind), _setter(freezer, kind))
        for method, handler in _methods(freezer, kind, calendar).items():
            model.add_method(kind, method, handler)


def _getter(freezer: Freezer, kind: FreezeObject) -> Callable[[], Data]:
    return lambda: freezer.association(kind)


def _setter(freezer: Freezer, kind: FreezeObject) -> Callable[[Data], None]:
    def set_(value: Data) -> None:
        if value.type != DataType.ARRAY:
            raise refuse(DAR.TYPE_MISMATCH, "attribute 3 is an array of structures")
        freezer.set_association(kind, [FreezeAssociation.from_data(item) for item in value.value])

    return set_


def _methods(
    freezer: Freezer, kind: FreezeObject, calendar: Callable[[], float]
) -> dict[int, Callable[[Data], Data | None]]:
    def reset(_: Data) -> None:
        freezer.reset(kind)

    def trigger(value: Data) -> None:
        if value.type not in (DataType.LONG_UNSIGNED, DataType.NULL):
            raise refuse(DAR.TYPE_MISMATCH, "method 3 takes a long-unsigned")
        freezer.trigger(kind, calendar())

    def add(value: Data) -> None:
        freezer.add(kind, FreezeAssociation.from_data(value))

    def delete(value: Data) -> None:
        if value.type != DataType.OAD:
            raise refuse(DAR.TYPE_MISMATCH, "method 5 takes an OAD")
        freezer.delete(kind, value.value)

    def add_several(value: Data) -> None:
        if value.type != DataType.ARRAY:
            raise refuse(DAR.TYPE_MISMATCH, "method 7 takes an array of structures")
        entries = [FreezeAssociation.from_data(item) for item in value.value]
        pairs = {e[:2] for e in entries}
        kept = [e for e in freezer.tables[kind].entries if e[:2] not in pairs]
        freezer.set_association(kind, [*kept, *entries])

    def clear(_: Data) -> None:
        freezer.set_association(kind, [])

    return {1: reset, 3: trigger, 4: add, 5: delete, 7: add_several, 8: clear}
