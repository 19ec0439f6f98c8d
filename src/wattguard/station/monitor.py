"""The security monitor: every refusal anywhere becomes a stored event; rules raise alerts.

Theory of operation. :class:`SecurityMonitor` is an :class:`~wattguard.events.EventSink`:
components of the station (and what reaches it from FEPs, terminals and meters) record
:class:`~wattguard.events.SecurityEvent` s into it; each is stored, then every :class:`Rule`
whose kinds it matches counts it in a sliding window per *subject* (the event's source, so
that one meter's failures do not add up with another's). When a rule's count within its
window reaches its threshold, an alert opens for that subject; while it is open further
matches only add to its count and evidence, so a flood raises one alert, not thousands. An
alert closes when no match has arrived for ``quiet`` seconds (checked by :meth:`tick`).

Rules are data; :data:`DEFAULT_RULES` covers the threats of the attack harness.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattguard.events import EventKind, SecurityEvent
from wattguard.station.storage import Storage

__all__ = ["DEFAULT_RULES", "Rule", "SecurityMonitor"]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kinds: frozenset[EventKind]
    threshold: int = 1
    window: float = 3600.0
    severity: str = "warning"
    quiet: float = 3600.0


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("tamper", frozenset({EventKind.TAMPER}), severity="critical"),
    Rule(
        "forged data", frozenset({EventKind.BAD_MAC}), threshold=3, window=900, severity="critical"
    ),
    Rule("replay", frozenset({EventKind.REPLAY}), severity="critical"),
    Rule("unauthorised command", frozenset({EventKind.UNAUTHORISED}), threshold=2, window=600),
    Rule("firmware refused", frozenset({EventKind.FIRMWARE}), severity="critical"),
    Rule("authentication failures", frozenset({EventKind.AUTHENTICATION}), threshold=5, window=600),
    Rule("lockout", frozenset({EventKind.LOCKOUT})),
    Rule("key or certificate refused", frozenset({EventKind.KEY}), severity="critical"),
    Rule("malformed input", frozenset({EventKind.MALFORMED}), threshold=20, window=60),
    Rule("flood", frozenset({EventKind.FLOOD}), severity="critical"),
    Rule("clock change", frozenset({EventKind.CLOCK}), threshold=3, window=86400),
    Rule("battery low", frozenset({EventKind.BATTERY}), severity="info", quiet=86400 * 30),
)


@dataclass
class _Open:
    alert_id: int
    last: float


@dataclass
class SecurityMonitor:
    storage: Storage
    rules: Sequence[Rule] = DEFAULT_RULES
    clock: Callable[[], float] | None = None
    on_alert: list[Callable[[int, Rule, str], None]] = field(default_factory=list)
    _seen: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _open: dict[tuple[str, str], _Open] = field(default_factory=dict)

    def record(self, event: SecurityEvent) -> None:
        self.storage.add_event(event)
        for rule in self.rules:
            if event.kind in rule.kinds:
                self._count(rule, event)

    def _count(self, rule: Rule, event: SecurityEvent) -> None:
        key = (rule.name, event.source)
        evidence = f"{event.kind.value}: {event.detail}"[:500]
        current = self._open.get(key)
        if current is not None:
            current.last = event.at
            self.storage.bump_alert(current.alert_id, evidence)
            return
        times = self._seen.setdefault(key, deque())
        times.append(event.at)
        while times and event.at - times[0] > rule.window:
            times.popleft()
        if len(times) >= rule.threshold:
            times.clear()
            alert_id = self.storage.open_alert(
                rule.name, rule.severity, event.source, event.at, evidence
            )
            self._open[key] = _Open(alert_id, event.at)
            for hook in self.on_alert:
                hook(alert_id, rule, event.source)

    def tick(self, now: float) -> None:
        """Close the alerts that have been quiet for their rule's ``quiet`` seconds."""
        quiet = {rule.name: rule.quiet for rule in self.rules}
        for key, current in list(self._open.items()):
            if now - current.last >= quiet.get(key[0], 3600.0):
                self.storage.close_alert(current.alert_id, now)
                del self._open[key]
