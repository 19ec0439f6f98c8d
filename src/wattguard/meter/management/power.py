"""The power module and the clock battery: mains present or absent, the RTC kept on the
battery through an outage, the battery's voltage and a low-battery event, and the power-down
event object 3011.

Theory of operation. The meter runs from the mains. :meth:`PowerModule.mains_lost` is the
power-fail interrupt: it records the start of a power-down event (3011, in the meter log and
in the module's own bounded record table) and calls the ``on_power_fail`` hooks, where the
meter saves what must survive (the freezes' ``to_bytes`` into the non-volatile store). While
the mains is absent nothing of the meter runs but the RTC, which draws ``standby_ua`` from
the clock cell. :meth:`PowerModule.mains_restored` is power-up: the outage is charged to the
battery in one go; if the cell ran flat during it, the RTC stopped when it did, the calendar
resumes from that moment (the clock offset shrinks by the time lost) and a clock-fault event
(302E) is logged. The power-down event is closed with its end and duration (what the meter's
own calendar measured), counted in attribute 7 (occurrences, accumulated seconds).

The battery is checked while the meter runs (at power-up and at each :meth:`step`, which
:meth:`PowerModule.next_check` says when to run for the next report to be on time): below
``low_threshold`` it is reported once as BATTERY_LOW, and again only after a cell that reads
``low_threshold + 0.2 V`` has been fitted. DL/T 698.45 signals a low clock battery by status
bits (running status word 1, bit 2; follow-report status word, bit 3) rather than an event
object, so the log entry uses the vendor object FF22 (docs/protocol.md).

The cell (:class:`Battery`) is a 3.6 V lithium-thionyl-chloride bobbin cell of the 1/2 AA
class meters fit (1200 mAh). Its documented shape, not a fit to a measured curve: open
circuit 3.66 V, a plateau near 3.6 V for most of the capacity, a knee in the last tenth and
the end of discharge at 2.0 V, with 1 % of the capacity lost per year to self-discharge, as
the Li-SOCl2 datasheets give (e.g. EEMB ER10450: nominal 3.6 V, cut-off 2.0 V,
self-discharge 1 %/year). Low-battery threshold 3.0 V by default (a public meter firmware
flags its 3.6 V clock cell at 2.5 V; the threshold is a parameter).
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from wattguard.errors import ConfigError, DecodeError
from wattguard.meter.management.eventlog import LogEntry, MeterEventKind, MeterLog
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.records import MAX_ANSWER_BYTES, select
from wattguard.protocol import OAD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR, AResultRecord
from wattguard.protocol.apdu.get import GetRecord
from wattguard.protocol.axdr import Reader

__all__ = ["Battery", "Outage", "PowerHost", "PowerModule", "expose_power"]

_YEAR = 365.25 * 86400
#: Remaining fraction of the capacity -> open-circuit voltage (see the module docstring).
_CURVE_FRACTION = np.array([0.0, 0.02, 0.05, 0.10, 0.20, 1.0])
_CURVE_VOLTS = np.array([2.0, 2.8, 3.2, 3.4, 3.55, 3.66])
CUT_OFF = 2.0  # V: the cell is flat, the RTC stops
RECOVERY = 0.2  # V above the threshold that counts as a new cell
#: Power-down records kept (3011 attribute 5): the last 10, as the smart-meter specifications
#: ask for ("the last 10 power-down start and end times").
MAX_RECORDS = 10
_D = DataType
_HEAD = struct.Struct("<4sBddBIdII")
_RECORD = struct.Struct("<Idd")
_MAGIC = b"WGP1"


@dataclass
class Battery:
    """The clock cell: charge in mAh, drawn by the RTC while the mains is absent."""

    capacity_mah: float = 1200.0
    standby_ua: float = 10.0  # RTC and RAM retention, mains absent
    self_discharge: float = 0.01  # of the capacity per year
    charge_mah: float = math.nan  # NaN: a full cell

    def __post_init__(self) -> None:
        if self.capacity_mah <= 0 or self.standby_ua < 0 or not 0 <= self.self_discharge < 1:
            raise ConfigError("a battery has a positive capacity and non-negative drains")
        if math.isnan(self.charge_mah):
            self.charge_mah = self.capacity_mah

    def voltage(self) -> float:
        return float(np.interp(self.charge_mah / self.capacity_mah, _CURVE_FRACTION, _CURVE_VOLTS))

    @property
    def flat(self) -> bool:
        return self.charge_mah <= 0.0

    def rate(self, on_battery: bool) -> float:
        """mAh drawn per second: self-discharge, plus the RTC while the mains is absent."""
        per_second = self.capacity_mah * self.self_discharge / _YEAR
        if on_battery:
            per_second += self.standby_ua / 1000.0 / 3600.0
        return per_second

    def charge_at(self, volts: float) -> float:
        """The charge (mAh) at which the cell reads ``volts`` (the inverse of :meth:`voltage`)."""
        return float(np.interp(volts, _CURVE_VOLTS, _CURVE_FRACTION)) * self.capacity_mah

    def drain(self, seconds: float, on_battery: bool) -> float | None:
        """Draw ``seconds`` of use; returns when (seconds in) the cell went flat, if it did."""
        per_second = self.rate(on_battery)
        if per_second * seconds < self.charge_mah:
            self.charge_mah -= per_second * seconds
            return None
        flat_after = self.charge_mah / per_second if per_second else 0.0
        self.charge_mah = 0.0
        return flat_after


@dataclass(frozen=True, slots=True)
class Outage:
    """One power-down record: its number and the meter's calendar at start and end."""

    number: int
    start: float
    end: float | None = None


class PowerHost(Protocol):
    """What the power module acts on: the management module's log and clock offset."""

    log: MeterLog
    clock_offset: float


@dataclass
class PowerModule:
    """Mains, battery and the power-down event object of one meter (sans-IO: ``now`` is the
    simulation time, the meter's calendar is ``now + host.clock_offset``)."""

    host: PowerHost
    battery: Battery = field(default_factory=Battery)
    low_threshold: float = 3.0
    on_power_fail: list[Callable[[], None]] = field(default_factory=list)
    mains: bool = True
    low: bool = False
    count: int = 0  # outages ended
    seconds: float = 0.0  # their accumulated duration by the meter's calendar
    outages: deque[Outage] = field(default_factory=lambda: deque(maxlen=MAX_RECORDS))
    budget: int = MAX_ANSWER_BYTES
    _lost_at: float = field(default=math.nan, init=False)
    _stepped: float = field(default=math.nan, init=False)
    _entry: LogEntry | None = field(default=None, init=False)
    _number: int = field(default=0, init=False)

    def calendar(self, now: float) -> float:
        return now + self.host.clock_offset

    # mains

    def mains_lost(self, now: float) -> None:
        """Power fail: start a power-down event and run the save hooks."""
        if not self.mains:
            return
        self.step(now)
        self.mains, self._lost_at = False, now
        self._number += 1
        self.outages.append(Outage(self._number, self.calendar(now)))
        self._entry = self.host.log.add(MeterEventKind.POWER_DOWN, now, "mains lost")
        for hook in self.on_power_fail:
            hook()

    def mains_restored(self, now: float) -> None:
        """Power up: charge the outage to the battery, keep or stop the RTC, close the event."""
        if self.mains:
            return
        outage = max(now - self._lost_at, 0.0)
        flat_after = self.battery.drain(outage, on_battery=True)
        if flat_after is not None:
            lost = outage - flat_after  # the RTC stood still for this long
            self.host.clock_offset -= lost
            self.host.log.calendar_offset = self.host.clock_offset
            self.host.log.add(MeterEventKind.CLOCK_FAULT, now, f"RTC stopped for {lost:.0f} s")
        self.mains, self._stepped = True, now
        self._close(now)
        self._check(now)

    def _close(self, now: float) -> None:
        if not self.outages or self.outages[-1].end is not None:
            return
        started = self.outages[-1]
        end = self.calendar(now)
        duration = max(end - started.start, 0.0)
        self.outages[-1] = Outage(started.number, started.start, end)
        self.count += 1
        self.seconds += duration
        detail = f"mains lost for {duration:.0f} s"
        if self._entry is not None:
            self.host.log.close(self._entry, now, detail)
        else:  # restored from bytes: the log entry did not survive, the record did
            start = started.start - self.host.log.calendar_offset
            entry = self.host.log.add(MeterEventKind.POWER_DOWN, start, "mains lost")
            self.host.log.close(entry, now, detail)
        self._entry = None

    # time

    def step(self, now: float) -> None:
        """While the mains is present: self-discharge, and the battery check."""
        if not self.mains:
            return
        if not math.isnan(self._stepped) and now > self._stepped:
            self.battery.drain(now - self._stepped, on_battery=False)
        self._stepped = now
        self._check(now)

    def next_check(self) -> float | None:
        """When :meth:`step` next has something to report: the first whole second after
        the cell, discharging as it does now, reaches ``low_threshold`` (so it reads below).
        None while the mains is absent, once BATTERY_LOW is reported, before the first step
        (the discharge is counted from there), and for a cell that never gets there."""
        if not self.mains or self.low or math.isnan(self._stepped):
            return None
        per_second = self.battery.rate(on_battery=False)
        if per_second <= 0.0 or self.low_threshold <= _CURVE_VOLTS[0] or self.battery.flat:
            return None
        above = self.battery.charge_mah - self.battery.charge_at(self.low_threshold)
        return math.floor(self._stepped + max(above, 0.0) / per_second) + 1.0

    def _check(self, now: float) -> None:
        volts = self.battery.voltage()
        if volts < self.low_threshold and not self.low:
            self.low = True
            self.host.log.add(MeterEventKind.BATTERY_LOW, now, f"clock battery {volts:.2f} V")
        elif volts >= self.low_threshold + RECOVERY:
            self.low = False

    def replace_battery(self, battery: Battery, now: float) -> None:
        self.battery = battery
        self._check(now)

    # 3011 as records (a RecordTable for wattguard.meter.management.records.select)

    time_column = OAD(0x201E, 2)  # event start
    seq_column = OAD(0x2022, 2)  # event record number

    def columns(self) -> tuple[OAD, ...]:
        return (self.seq_column, self.time_column, OAD(0x2020, 2), OAD(0x2024, 2))

    def times(self) -> np.ndarray:
        return np.array([int(o.start) for o in self.outages], np.int64)

    def seqs(self) -> np.ndarray:
        return np.array([o.number for o in self.outages], np.int64)

    def cell(self, row: int, oad: OAD) -> Data:
        end = self.outages[row].end
        if oad == OAD(0x2020, 2) and end is not None:
            return Data(_D.DATE_TIME_S, DateTimeS.from_posix(end))
        return Data(_D.NULL)  # an outage still running; power down names no source (2024)

    def records(self, request: GetRecord) -> AResultRecord:
        if (request.oad.oi, request.oad.attribute) != (0x3011, 2):
            return AResultRecord(request.oad, request.columns, DAR.OBJECT_NOT_EXIST)
        return select(self, request, self.budget)

    # bytes

    def to_bytes(self) -> bytes:
        """The state a power fail saves (with the clock offset the RTC stands for)."""
        head = _HEAD.pack(
            _MAGIC,
            self.mains,
            self._lost_at,
            self.battery.charge_mah,
            self.low,
            self.count,
            self.seconds,
            self._number,
            len(self.outages),
        )
        records = b"".join(
            _RECORD.pack(o.number, o.start, math.nan if o.end is None else o.end)
            for o in self.outages
        )
        return head + struct.pack("<d", self.host.clock_offset) + records

    @classmethod
    def from_bytes(
        cls, data: bytes, host: PowerHost, battery: Battery | None = None
    ) -> PowerModule:
        """Restore after the RAM was lost: the clock offset goes back to ``host``; raises
        DecodeError when ``data`` is not a saved power module."""
        reader = Reader(data)
        try:
            magic, mains, lost_at, charge, low, count, seconds, number, held = _HEAD.unpack(
                reader.take(_HEAD.size)
            )
            (offset,) = struct.unpack("<d", reader.take(8))
            rows = [_RECORD.unpack(reader.take(_RECORD.size)) for _ in range(held)]
        except struct.error as exc:
            raise DecodeError(f"power module state: {exc}", offset=reader.pos) from None
        reader.finish()
        if magic != _MAGIC or held > MAX_RECORDS or not math.isfinite(offset):
            raise DecodeError("not a wattguard power module state", offset=0)
        cell = battery or Battery()
        cell.charge_mah = min(max(charge, 0.0), cell.capacity_mah)
        module = cls(host, cell, mains=bool(mains), low=bool(low), count=count, seconds=seconds)
        module._lost_at, module._number = lost_at, number
        for row_number, start, end in rows:
            module.outages.append(Outage(row_number, start, None if math.isnan(end) else end))
        host.clock_offset = offset
        host.log.calendar_offset = offset
        return module


def expose_power(model: ObjectModel, power: PowerModule) -> None:
    """Register 2011 (clock battery voltage, long-unsigned 0.01 V) and the power-down event
    object 3011: attribute 2 as records {2022, 201E, 2020, 2024}, 4 current record count,
    5 maximum record count, 7 current values [{source NULL, {occurrences, seconds}}].
    2012 (the power-down reading battery) is not registered: a wattguard meter has none."""
    model.add_attribute(
        0x2011, 2, lambda: Data(_D.LONG_UNSIGNED, round(power.battery.voltage() * 100))
    )
    model.add_records(0x3011, 2, power.records)
    model.add_attribute(0x3011, 4, lambda: Data(_D.LONG_UNSIGNED, len(power.outages)))
    model.add_attribute(0x3011, 5, lambda: Data(_D.LONG_UNSIGNED, MAX_RECORDS))
    model.add_attribute(0x3011, 7, lambda: _current_values(power))


def _current_values(power: PowerModule) -> Data:
    totals = Data.structure(
        Data(_D.DOUBLE_LONG_UNSIGNED, power.count & 0xFFFFFFFF),
        Data(_D.DOUBLE_LONG_UNSIGNED, int(power.seconds) & 0xFFFFFFFF),
    )
    return Data.array(Data.structure(Data(_D.NULL), totals))
