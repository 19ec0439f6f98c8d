"""What a collection terminal reads, and what it keeps of each read.

A :class:`CollectionTask` says what to read from every meter and how often; each exchange with
a meter is kept as a :class:`Collected` item, exactly as it travelled, and goes up to the
station as one octet-string of a REPORT-Notification-TransData (docs/network.md)::

    meter address (6) | time (4, POSIX seconds, big-endian) | request length (2)
    | request APDU | response APDU

A meter's own report has an empty request.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wattguard.errors import DecodeError
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetRecord, GetRequestNormalList, GetRequestRecord
from wattguard.protocol.data import CSD, RCSD, RSD
from wattguard.protocol.values import TI, DateTimeS

__all__ = [
    "FREEZE_TIME",
    "SETTLE",
    "Collected",
    "CollectionTask",
    "Requests",
    "decode_item",
    "encode_item",
    "floor",
    "window",
]

#: Seconds after a freeze boundary by which every meter has frozen it: a record task reads a
#: boundary's records only once this long has passed, so it never reads a window before the
#: meter has filled it (and then skips it for good).
SETTLE = 60.0
#: The freeze-time column of every freeze record (2021: data freeze time).
FREEZE_TIME = OAD(0x2021, 2, 0)

_ITEM_HEAD = struct.Struct(">6sIH")


@dataclass(frozen=True, slots=True)
class CollectionTask:
    """What to read from every meter, and how often.

    With ``record`` unset it reads ``oads`` (real-time values, GET-Request-NormalList).
    With ``record`` set (e.g. ``OAD(0x5002, 2, 0)``, the minute freeze) it reads the records
    whose freeze time falls in ``[since, until)``, ``interval`` seconds apart, with columns
    ``oads`` (all columns when empty), at most ``max_records`` per read. ``meters`` names the
    meters it covers (None: every meter of the archive), e.g. those with a charging pile.
    """

    name: str
    period: float
    oads: tuple[OAD, ...] = ()
    record: OAD | None = None
    interval: float = 60.0
    max_records: int = 60
    meters: frozenset[bytes] | None = None

    def covers(self, meter: bytes) -> bool:
        """Whether the task reads ``meter``."""
        return self.meters is None or meter in self.meters

    def __post_init__(self) -> None:
        if self.period <= 0 or self.interval <= 0 or self.max_records < 1:
            raise ValueError(f"task {self.name}: period, interval and max_records must be > 0")
        if self.record is None and not self.oads:
            raise ValueError(f"task {self.name}: a real-time task needs attributes to read")

    def request(self, piid: int, since: float, until: float) -> Structure:
        """The GET request of one run, for the window ``[since, until)`` (record tasks)."""
        if self.record is None:
            return GetRequestNormalList(piid, self.oads)
        columns = RCSD(tuple(CSD(oad) for oad in self.oads))
        rsd = RSD(2, (FREEZE_TIME, _date_time_s(since), _date_time_s(until), _ti(self.interval)))
        return GetRequestRecord(piid, GetRecord(self.record, rsd, columns))


@dataclass(frozen=True, slots=True)
class Collected:
    """One exchange with a meter, as it travelled: what the station verifies and stores.
    ``at`` is when the request went out (for a report: when it arrived)."""

    meter: bytes
    at: float
    request: bytes  # empty for a report the meter sent on its own
    response: bytes


#: Requests a terminal keeps built. A round asks each meter the same few (its lines' PIIDs
#: advance in step, so a round of two tasks asks two); more would be a dead weight of old
#: rounds in every one of a district's hundreds of terminals.
_KNOWN = 32


class Requests:
    """A terminal's task requests, the same object for every meter a round asks the same
    (APDUs are immutable): a ``protect`` may encode it once for them all, and the round builds
    it once."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, float, float], tuple[CollectionTask, Structure]] = {}

    def get(self, task: CollectionTask, piid: int, since: float, until: float) -> Structure:
        """``task.request(piid, since, until)``, made once."""
        key = (id(task), piid, since, until)
        known = self._known.get(key)
        if known is None or known[0] is not task:
            if len(self._known) >= _KNOWN:
                self._known.clear()
            known = self._known[key] = (task, task.request(piid, since, until))
        return known[1]


def encode_item(item: Collected) -> bytes:
    """One item of a batch (see the module docstring)."""
    return (
        _ITEM_HEAD.pack(item.meter, int(item.at) & 0xFFFFFFFF, len(item.request))
        + item.request
        + item.response
    )


def decode_item(data: bytes) -> Collected:
    """The inverse of :func:`encode_item`; raises DecodeError on a malformed item."""
    if len(data) < _ITEM_HEAD.size:
        raise DecodeError("a collected item is shorter than its header", offset=0)
    meter, at, length = _ITEM_HEAD.unpack_from(data)
    end = _ITEM_HEAD.size + length
    if end > len(data):
        raise DecodeError("a collected item's request runs past its end", offset=_ITEM_HEAD.size)
    return Collected(meter, float(at), data[_ITEM_HEAD.size : end], data[end:])


def floor(t: float, step: float) -> float:
    """``t`` down to a multiple of ``step`` (a task's boundary)."""
    return float(int(t // step) * step)


def _date_time_s(posix: float) -> Data:
    return Data(DataType.DATE_TIME_S, DateTimeS.from_posix(posix))


def _ti(seconds: float) -> Data:
    if seconds % 86400 == 0:
        return Data(DataType.TI, TI(3, int(seconds // 86400)))
    if seconds % 3600 == 0:
        return Data(DataType.TI, TI(2, int(seconds // 3600)))
    if seconds % 60 == 0:
        return Data(DataType.TI, TI(1, int(seconds // 60)))
    return Data(DataType.TI, TI(0, int(seconds)))


def window(task: CollectionTask, since: float, now: float) -> tuple[float, float] | None:
    """``(until, resume)`` of a run at ``now``: the end of the window it reads and where the
    next one starts (None: nothing to read yet).

    A real-time task reads now. A record task reads the records from ``since`` (a boundary) up
    to the latest boundary a meter has surely frozen (SETTLE seconds ago), that one included:
    the window is [since, last + 1) on the grid of the task's interval, and the next one
    starts at the boundary after ``last``.
    """
    if task.record is None:
        return now, now
    newest = floor(now - SETTLE, task.interval)
    last = min(newest, since + (task.max_records - 1) * task.interval)
    if last < since:
        return None
    return last + 1, last + task.interval
