"""The meter's event log: operational events (power down, cover open, clock set, voltage out
of range, relay operations, upgrades...) and every security refusal, numbered, kept in a
bounded log and queued for reporting to the station.

The log is also an :class:`~wattguard.events.EventSink`: the components of the meter record
their :class:`~wattguard.events.SecurityEvent` into it; each becomes a log entry and is passed
on to the upstream sink (the station's security monitor, once the meter is networked).
Event kinds carry the DL/T 698.45 event object they are reported under; the kinds the public
catalogue does not name use the vendor range FFxx (docs/protocol.md).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass

from wattguard.events import EventSink, SecurityEvent
from wattguard.protocol import Data, DataType, DateTimeS

__all__ = ["LogEntry", "MeterEventKind", "MeterLog"]


class MeterEventKind(enum.Enum):
    """Kinds of entries, each with the event object (OI) it is reported under."""

    UNDER_VOLTAGE = ("under voltage", 0x3001)
    OVER_VOLTAGE = ("over voltage", 0x3002)
    OVER_CURRENT = ("over current", 0x3005)
    POWER_REVERSAL = ("power reversal", 0x3007)
    OVERLOAD = ("overload", 0x3008)
    LOW_POWER_FACTOR = ("power factor below limit", 0x300C)
    POWER_DOWN = ("power down", 0x3011)
    CLOCK_SET = ("clock set", 0x3016)
    CLOCK_FAULT = ("clock fault", 0x302E)
    COVER_OPEN = ("meter cover open", 0x301B)
    RELAY_TRIP = ("relay trip", 0x301F)
    RELAY_CLOSE = ("relay close", 0x3020)
    MAGNETIC = ("constant magnetic field", 0x302A)
    OVER_TEMPERATURE = ("over temperature", 0xFF21)
    BATTERY_LOW = ("battery low", 0xFF22)
    UPGRADE = ("software upgrade", 0xFF23)
    LOCAL_ALARM = ("expansion module alarm", 0xFF24)
    SENSOR_ALARM = ("Bluetooth sensor alarm", 0xFF25)
    FREQUENCY_DEVIATION = ("frequency deviation", 0xFF26)
    VOLTAGE_THD = ("voltage THD over limit", 0xFF27)
    CURRENT_THD = ("current THD over limit", 0xFF28)
    SECURITY = ("security refusal", 0xFF20)

    @property
    def oi(self) -> int:
        return self.value[1]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One numbered entry of the meter's event log: what happened, when it started and ended on the
    meter's calendar; reported to the station under its kind's event object."""

    number: int
    kind: MeterEventKind
    start: float  # the meter's calendar, POSIX seconds
    end: float | None
    detail: str

    def to_data(self) -> Data:
        """structure {2022 record number, 201E start, 2020 end (or null), 2024 source}."""
        end = (
            Data(DataType.NULL)
            if self.end is None
            else Data(DataType.DATE_TIME_S, DateTimeS.from_posix(self.end))
        )
        return Data.structure(
            Data(DataType.DOUBLE_LONG_UNSIGNED, self.number),
            Data(DataType.DATE_TIME_S, DateTimeS.from_posix(self.start)),
            end,
            Data(DataType.VISIBLE_STRING, self.detail.encode("ascii", "replace")[:128].decode()),
        )


class MeterLog:
    """Bounded event log; new entries also wait in :attr:`unreported` for the next report."""

    def __init__(self, upstream: EventSink | None = None, capacity: int = 1000) -> None:
        self.upstream = upstream
        self.entries: deque[LogEntry] = deque(maxlen=capacity)
        self.unreported: deque[LogEntry] = deque(maxlen=capacity)
        self.security: deque[SecurityEvent] = deque(maxlen=capacity)
        self._number = 0
        self.calendar_offset = 0.0  # the meter's calendar = the event's time + this

    def add(
        self, kind: MeterEventKind, now: float, detail: str = "", end: float | None = None
    ) -> LogEntry:
        self._number += 1
        entry = LogEntry(self._number, kind, now + self.calendar_offset, end, detail)
        self.entries.append(entry)
        self.unreported.append(entry)
        return entry

    def close(self, entry: LogEntry, now: float, detail: str | None = None) -> LogEntry:
        """End ``entry`` at ``now`` (the event's time, as for :meth:`add`). The ended entry
        takes its place in the log and is queued for reporting again: a 698 event such as
        power down is reported when it starts and when it ends."""
        ended = dataclasses.replace(
            entry,
            end=now + self.calendar_offset,
            detail=entry.detail if detail is None else detail,
        )
        for queue in (self.entries, self.unreported):
            for index, held in enumerate(queue):
                if held.number == entry.number:
                    del queue[index]
                    queue.insert(index, ended)
                    break
            else:
                if queue is self.unreported:
                    queue.append(ended)
        return ended

    def record(self, event: SecurityEvent) -> None:
        """EventSink: a security refusal from any part of the meter."""
        self.security.append(event)
        self.add(MeterEventKind.SECURITY, event.at, f"{event.kind.value}: {event.detail}")
        if self.upstream is not None:
            self.upstream.record(event)

    def of_kind(self, kind: MeterEventKind) -> list[LogEntry]:
        return [entry for entry in self.entries if entry.kind == kind]

    def take_unreported(self) -> list[LogEntry]:
        out = list(self.unreported)
        self.unreported.clear()
        return out
