"""Operational events: what a meter reports that operations staff act on (over-current,
voltage out of range, over-temperature, a clock battery running low, the expansion module's
alarms: a charging pile over its limit, the credit at its alarm level, reverse energy), stored
beside the security events, never mixed into them, with their own alert rules.

Theory of operation. A meter reports each new log entry under its event object
(REPORT-Notification-List, verified like a reading). The station hands the reports to
:func:`operational_kind`, which names the operational kind of an event object (and, for the
expansion module's FF24, of the alarm its detail names); :class:`OperationsMonitor` stores
each such event (``Storage.add_operational_event``) and counts it against
:data:`OPERATIONAL_RULES` per meter, like the security monitor: ``threshold`` events within
``window`` seconds open one alert (rule ``operational: <name>`` in the station's alert table)
that further matches only bump, and that closes after ``quiet`` seconds without a match.

The event objects are the meter's (docs/protocol.md): 3001 under-voltage, 3002 over-voltage,
3005 over-current, 3007 power reversal (a meter that may not export), 3008 overload, 300C power
factor below its limit, FF26 frequency deviation, FF27 / FF28 voltage / current THD over its
limit, FF21 over-temperature, FF22 clock battery low, FF24 the expansion module's
alarms with a detail ``"<alarm>: <value>"``, FF25 a Bluetooth sensor's alarm with a detail
``"<sensor>: <value>"`` (docs/bluetooth.md: a water leak).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattguard.protocol import Data, DataType
from wattguard.station.records import OperationalEvent, OperationalKind, normalise_meter
from wattguard.station.storage import Storage

__all__ = [
    "OPERATIONAL_RULES",
    "OperationalEvent",
    "OperationalKind",
    "OperationalRule",
    "OperationsMonitor",
    "operational_kind",
]


_BY_OBJECT = {
    0x3001: OperationalKind.UNDER_VOLTAGE,
    0x3002: OperationalKind.OVER_VOLTAGE,
    0x3005: OperationalKind.OVER_CURRENT,
    0x3007: OperationalKind.POWER_REVERSAL,
    0x3008: OperationalKind.OVERLOAD,
    0x300C: OperationalKind.LOW_POWER_FACTOR,
    0xFF26: OperationalKind.FREQUENCY_DEVIATION,
    0xFF27: OperationalKind.VOLTAGE_THD,
    0xFF28: OperationalKind.CURRENT_THD,
    0xFF21: OperationalKind.OVER_TEMPERATURE,
    0xFF22: OperationalKind.BATTERY_LOW,
}
#: The expansion module's alarms (FF24) by the name its detail starts with.
_BY_ALARM = {
    "over current": OperationalKind.OVER_CURRENT,
    "pile over limit": OperationalKind.PILE_OVER_LIMIT,
    "credit low": OperationalKind.CREDIT_LOW,
    "reverse energy": OperationalKind.REVERSE_ENERGY,
    "device curtailed": OperationalKind.LOAD_CURTAILED,
    "pile curtailed": OperationalKind.LOAD_CURTAILED,
}
#: The Bluetooth sensors' alarms (FF25) by the sensor kind its detail starts with.
_BY_SENSOR = {"water leak": OperationalKind.WATER_LEAK}


def operational_kind(oi: int, detail: str) -> OperationalKind | None:
    """The operational kind of an event reported under object ``oi`` (None: not operational)."""
    if oi == 0xFF24:
        name = detail.split(":", 1)[0].strip().lower()
        return _BY_ALARM.get(name, OperationalKind.EXPANSION_ALARM)
    if oi == 0xFF25:
        name = detail.split(":", 1)[0].strip().lower()
        return _BY_SENSOR.get(name, OperationalKind.SENSOR_ALARM)
    return _BY_OBJECT.get(oi)


def record_number(fields: Sequence[Data]) -> int | None:
    """The record number (2022) of a reported event record
    ``structure {2022, 201E start, 2020 end, ...}``; None when absent or not a number."""
    if not fields or fields[0].type is not DataType.DOUBLE_LONG_UNSIGNED:
        return None
    number: int = fields[0].value
    return number


def record_end(fields: Sequence[Data]) -> float | None:
    """The end time (2020) of a reported event record; None while the event lasts (NULL) or
    when the field is absent or no valid date."""
    if len(fields) < 3 or fields[2].type is not DataType.DATE_TIME_S:
        return None
    try:
        ended: float = fields[2].value.to_posix()
    except (ValueError, AttributeError):
        return None
    return ended


@dataclass(frozen=True, slots=True)
class OperationalRule:
    """``threshold`` events of ``kinds`` for one meter within ``window`` seconds open an alert
    of ``severity``; it closes after ``quiet`` seconds without a match."""

    name: str
    kinds: frozenset[OperationalKind]
    threshold: int = 1
    window: float = 3600.0
    severity: str = "warning"
    quiet: float = 3600.0


_K = OperationalKind
OPERATIONAL_RULES: tuple[OperationalRule, ...] = (
    OperationalRule("voltage", frozenset({_K.UNDER_VOLTAGE, _K.OVER_VOLTAGE})),
    OperationalRule("over current", frozenset({_K.OVER_CURRENT}), severity="critical"),
    OperationalRule("over temperature", frozenset({_K.OVER_TEMPERATURE}), severity="critical"),
    OperationalRule("battery low", frozenset({_K.BATTERY_LOW}), severity="info", quiet=86400 * 30),
    OperationalRule("pile over limit", frozenset({_K.PILE_OVER_LIMIT})),
    OperationalRule("credit low", frozenset({_K.CREDIT_LOW}), severity="info", quiet=86400),
    OperationalRule("water leak", frozenset({_K.WATER_LEAK}), severity="critical"),
    # power quality: the meter applies the thresholds and delays the station set, so one event
    # is already a sustained deviation
    OperationalRule(
        "power reversal", frozenset({_K.POWER_REVERSAL}), severity="critical", quiet=86400
    ),
    OperationalRule("overload", frozenset({_K.OVERLOAD})),
    OperationalRule("frequency", frozenset({_K.FREQUENCY_DEVIATION}), severity="critical"),
    OperationalRule(
        "harmonic distortion", frozenset({_K.VOLTAGE_THD, _K.CURRENT_THD}), quiet=86400
    ),
    OperationalRule(
        "power factor",
        frozenset({_K.LOW_POWER_FACTOR}),
        threshold=3,
        window=86400,
        severity="info",
        quiet=86400,
    ),
)
# The expansion module's reverse-energy alarm (FF24) is stored and shown but raises no alert:
# the meter's own 3007 power reversal, raised only on a meter that may not export (FF11), is
# the alerting one; a PV customer's export raises neither.


@dataclass
class OperationsMonitor:
    """Stores operational events and raises alerts by :data:`OPERATIONAL_RULES` (see the
    module docstring); ``clock`` is the station's."""

    storage: Storage
    clock: Callable[[], float]
    rules: Sequence[OperationalRule] = OPERATIONAL_RULES
    _seen: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _open: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    def record(self, event: OperationalEvent) -> int:
        """Store ``event`` and count it against the rules; its row id. The ending report of
        an event already stored (same meter, kind and record number) only completes that row:
        the occurrence was counted when it started."""
        now = self.clock()
        meter = normalise_meter(event.meter)
        if event.ended is not None and event.number is not None:
            known = self.storage.end_operational_event(meter, event.kind, event.number, event.ended)
            if known is not None:
                return known
        stored = self.storage.add_operational_event(event, received=now)
        named = event.detail.startswith(event.kind.value)
        evidence = (event.detail if named else f"{event.kind.value}: {event.detail}")[:300]
        for rule in self.rules:
            if event.kind not in rule.kinds:
                continue
            key = (rule.name, meter)
            seen = self._seen.setdefault(key, deque())
            seen.append(now)
            while seen and seen[0] <= now - rule.window:
                seen.popleft()
            if key in self._open:
                alert_id, _ = self._open[key]
                self.storage.bump_alert(alert_id, evidence, now)
                self._open[key] = (alert_id, now)
            elif len(seen) >= rule.threshold:
                alert_id = self.storage.open_alert(
                    f"operational: {rule.name}", rule.severity, f"meter {meter}", now, evidence
                )
                self._open[key] = (alert_id, now)
        return stored

    def tick(self) -> None:
        """Close the alerts whose rule has been quiet long enough."""
        now = self.clock()
        quiet = {rule.name: rule.quiet for rule in self.rules}
        for key, (alert_id, last) in list(self._open.items()):
            if now - last >= quiet.get(key[0], 3600.0):
                self.storage.close_alert(alert_id, now)
                del self._open[key]
