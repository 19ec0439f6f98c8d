"""Power-quality events: what the management module detects in each measurement the metering
chip reports, with the station's thresholds and delays.

Theory of operation. Every MEASUREMENT (a metering step, from a waveform window or a load
profile) is checked against one condition per event object. A condition must hold for the
event's delay (the second field of the object's configuration attribute, DL/T 698.45-2017
class 7/24 event objects) before the event starts: the first measurement that shows it counts
from the start of its step (the previous measurement's time), so a 60 s step over the limit
satisfies a 60 s delay. The event is logged when it starts (and reported) and ended, with its
end time, the first measurement that no longer shows it (reported again, as 698 events are).

========  ==========================================  ========================================
OI        condition                                   limit (the object's configuration)
========  ==========================================  ========================================
3001      voltage below the limit (above 10 % rated)  long-unsigned 0.1 V (attribute 5)
3002      voltage above the limit                     long-unsigned 0.1 V (attribute 5)
3007      active power reversed beyond the limit      double-long 0.1 W (attribute 5)
3008      active power above the limit (overload)     double-long 0.1 W (attribute 5)
300C      power factor below the limit, under load    long 0.1 % (attribute 6)
FF26      frequency off 50 Hz by more than the limit  long-unsigned 0.01 Hz (attribute 5)
FF27      voltage THD above the limit                 long-unsigned 0.01 % (attribute 5)
FF28      current THD above the limit, under load     long-unsigned 0.01 % (attribute 5)
========  ==========================================  ========================================

3001/3002/3007/3008/300C are the standard's meter event objects (DL/T 698.45-2017, the event
object table of the object identification appendix; configuration layouts as published meter
firmware tables agree). The standard's meter catalogue has no frequency or THD event (those
are the terminal's and the power-quality monitor's statistics), and voltage (301D) and current
(301E) unbalance need three phases: a wattguard meter is single-phase, so those two do not
apply. Frequency and THD use the vendor range (docs/protocol.md, "Power-quality events").

A power reversal on a meter whose customer may not export (FF11 false) is also a TAMPER
security event: energy flowing out of a meter without generation is a reversed connection or a
bypass. A meter that may export registers its reverse energy without an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.events import EventKind, SecurityEvent
from wattguard.meter.management.eventlog import LogEntry, MeterEventKind, MeterLog
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import DataType

__all__ = ["QUALITY_FACTORY", "QUALITY_OBJECTS", "QualityMonitor", "thresholds_by_kind"]

_K = MeterEventKind
#: The quality events' configuration: OI -> (attribute, type of the limit).
QUALITY_OBJECTS: dict[int, tuple[int, DataType]] = {
    0x3007: (5, DataType.DOUBLE_LONG),
    0x3008: (5, DataType.DOUBLE_LONG),
    0x300C: (6, DataType.LONG),
    0xFF26: (5, DataType.LONG_UNSIGNED),
    0xFF27: (5, DataType.LONG_UNSIGNED),
    0xFF28: (5, DataType.LONG_UNSIGNED),
}
#: The factory thresholds (limit in the object's unit, delay s): a reversal beyond 10 W, an
#: overload beyond 13.2 kW (60 A at 220 V), a power factor below 0.5, the frequency off by
#: 0.5 Hz (1 %, EN 50160), voltage THD above 8 % (EN 50160), current THD above 50 %.
QUALITY_FACTORY: dict[int, tuple[int, int]] = {
    0x3007: (100, 60),
    0x3008: (132_000, 60),
    0x300C: (500, 60),
    0xFF26: (50, 10),
    0xFF27: (800, 60),
    0xFF28: (5000, 60),
}
#: Below this current a power factor or a current THD means nothing (no load).
LOAD_FLOOR_A = 0.5
NOMINAL_HZ = 50.0

#: One condition: (measurement, limit in the object's unit) -> the event's detail, or None.
Condition = Callable[[Measurement, int], str | None]


def _under(m: Measurement, limit: int, rated: float) -> str | None:
    return f"{m.voltage:.1f} V" if 0.1 * rated < m.voltage < limit / 10 else None


def _over(m: Measurement, limit: int) -> str | None:
    return f"{m.voltage:.1f} V" if m.voltage > limit / 10 else None


def _reversal(m: Measurement, limit: int) -> str | None:
    return f"{m.active_power:.1f} W" if m.active_power < -limit / 10 else None


def _overload(m: Measurement, limit: int) -> str | None:
    return f"{m.active_power:.1f} W" if m.active_power > limit / 10 else None


def _power_factor(m: Measurement, limit: int) -> str | None:
    loaded = m.current >= LOAD_FLOOR_A
    return f"{m.power_factor:.3f}" if loaded and abs(m.power_factor) * 1000 < limit else None


def _frequency(m: Measurement, limit: int) -> str | None:
    return f"{m.frequency:.2f} Hz" if abs(m.frequency - NOMINAL_HZ) * 100 > limit else None


def _voltage_thd(m: Measurement, limit: int) -> str | None:
    return f"{m.voltage_thd * 100:.2f} %" if m.voltage_thd * 10_000 > limit else None


def _current_thd(m: Measurement, limit: int) -> str | None:
    loaded = m.current >= LOAD_FLOOR_A
    return f"{m.current_thd * 100:.2f} %" if loaded and m.current_thd * 10_000 > limit else None


_CONDITIONS: dict[MeterEventKind, Condition] = {
    _K.OVER_VOLTAGE: _over,
    _K.POWER_REVERSAL: _reversal,
    _K.OVERLOAD: _overload,
    _K.LOW_POWER_FACTOR: _power_factor,
    _K.FREQUENCY_DEVIATION: _frequency,
    _K.VOLTAGE_THD: _voltage_thd,
    _K.CURRENT_THD: _current_thd,
}


_BY_OI = {kind.oi: kind for kind in MeterEventKind}


def thresholds_by_kind(
    under: tuple[int, int], over: tuple[int, int], quality: dict[int, tuple[int, int]]
) -> dict[MeterEventKind, tuple[int, int]]:
    """The thresholds a :class:`QualityMonitor` follows, by event kind: the voltage limits
    (3001/3002) and the other quality objects' (OI -> (limit, delay))."""
    table = {_K.UNDER_VOLTAGE: under, _K.OVER_VOLTAGE: over}
    table.update({_BY_OI[oi]: value for oi, value in quality.items()})
    return table


@dataclass
class QualityMonitor:
    """The power-quality events of one meter (module docstring). ``thresholds`` gives, per
    event object, (limit, delay s) as the station set them; ``may_export`` whether a power
    reversal is the customer's generation."""

    log: MeterLog
    name: str
    rated_voltage: float
    thresholds: Callable[[], dict[MeterEventKind, tuple[int, int]]]
    may_export: Callable[[], bool]
    _since: dict[MeterEventKind, float] = field(default_factory=dict)
    _open: dict[MeterEventKind, LogEntry] = field(default_factory=dict)
    _last: float | None = None

    def step(self, m: Measurement, now: float) -> None:
        """Check one measurement at ``now``: start the events whose condition has held for
        their delay, end those whose condition no longer holds."""
        began = now if self._last is None else self._last
        self._last = now
        limits = self.thresholds()
        for kind, (limit, delay) in limits.items():
            if kind is _K.POWER_REVERSAL and self.may_export():
                detail = None  # the customer's generation: registered, not an event
            elif kind is _K.UNDER_VOLTAGE:
                detail = _under(m, limit, self.rated_voltage)
            else:
                detail = _CONDITIONS[kind](m, limit)
            self._follow(kind, detail, delay, began, now)

    def _follow(
        self, kind: MeterEventKind, detail: str | None, delay: int, began: float, now: float
    ) -> None:
        if detail is None:
            self._since.pop(kind, None)
            entry = self._open.pop(kind, None)
            if entry is not None:
                self.log.close(entry, now)
            return
        since = self._since.setdefault(kind, began)
        if kind in self._open or now - since + 1e-9 < delay:
            return
        self._open[kind] = self.log.add(kind, now, detail)
        if kind is _K.POWER_REVERSAL:
            what = f"reverse power {detail} on a meter that may not export"
            self.log.record(SecurityEvent(EventKind.TAMPER, self.name, what, now))

    @property
    def active(self) -> frozenset[MeterEventKind]:
        """The events that have started and not yet ended."""
        return frozenset(self._open)
