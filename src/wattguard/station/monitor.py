"""The security monitor: every refusal anywhere becomes a stored event; rules raise alerts.

Theory of operation. :class:`SecurityMonitor` is an :class:`~wattguard.events.EventSink`:
components of the station (and what reaches it from FEPs, terminals and meters) record
:class:`~wattguard.events.SecurityEvent` s into it; each is stored, then every :class:`Rule`
whose kinds it matches counts it in a sliding window per *subject*. The subject is the meter
when the event's source names one (``"meter 0000000000a1 management/SPI"`` and
``"station/ingest meter 0000000000a1"`` are the same meter, so its forged SPI frames and its
forged answers add up), otherwise the source itself (a FEP, a terminal, a user), so that one
meter's failures never add up with another's.

When a rule's count within its window reaches its threshold, an alert opens for that subject;
while it is open further matches only add to its count, latest evidence and time, so a flood
raises one alert, not thousands. An alert closes when no match has arrived for ``quiet``
seconds (checked by :meth:`SecurityMonitor.tick`). Open alerts live in the storage: a
restarted monitor takes them back and keeps de-duplicating and closing them.

Time: with a ``clock`` (the station's), windows are measured on the station's clock, the one
clock every event shares; without one, on the events' own ``at`` (tests, a single source).

Repeated refusals: a refusal that anyone can cause as often as they like (an unknown token at
the API) is recorded with :meth:`SecurityMonitor.record_repeated` and a *key* (the client's
address): within ``window`` seconds of the first one, each further refusal with the same key
updates that one stored event (its count, the time of the latest, the latest detail) instead of
storing another, so a flood grows no table; every refusal still counts for the rules, so brute
force raises its alert as before.

Rules are data; :data:`DEFAULT_RULES` covers the threats of the attack harness.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.station.records import meter_of
from wattguard.station.storage import Storage

__all__ = ["DEFAULT_RULES", "Rule", "SecurityMonitor", "subject_of", "times_counted"]


@dataclass(frozen=True, slots=True)
class Rule:
    """``threshold`` matching events for one subject within ``window`` seconds open an alert
    of ``severity``; it closes after ``quiet`` seconds without a match."""

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
    # the reporting watch (station/watch.py) repeats its event while a meter stays silent
    Rule("stopped reporting", frozenset({EventKind.SILENCE})),
    # a meter answering through a terminal other than its registered one (station/service.py)
    Rule("meter moved", frozenset({EventKind.MOVED})),
)


def subject_of(source: str) -> str:
    """What an event counts against: ``"meter <address>"`` if its source names a meter, else
    the source."""
    meter = meter_of(source)
    return source if meter is None else f"meter {meter}"


_TIMES = re.compile(r"([0-9]+) times in ")


def times_counted(detail: str) -> int:
    """How many refusals a stored event's ``detail`` counts (1 unless
    :meth:`SecurityMonitor.record_repeated` counted more in it)."""
    found = _TIMES.match(detail)
    return 1 if found is None else int(found.group(1))


@dataclass
class _Repeat:
    event_id: int
    first: float
    last: float
    count: int


#: How many repeat keys are remembered at most (older ones are forgotten first).
_MAX_REPEATS = 10_000


@dataclass
class _Open:
    alert_id: int
    last: float


@dataclass
class SecurityMonitor:
    """The station's event sink: stores every security event and opens, de-duplicates and
    closes alerts by its rules, per subject."""

    storage: Storage
    rules: Sequence[Rule] = DEFAULT_RULES
    clock: Callable[[], float] | None = None
    on_alert: list[Callable[[int, Rule, str], None]] = field(default_factory=list)
    #: Hear every event recorded (the station's rules, :mod:`wattguard.station.rule_book`).
    on_event: list[Callable[[SecurityEvent], None]] = field(default_factory=list)
    _seen: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _open: dict[tuple[str, str], _Open] = field(default_factory=dict)
    _repeats: dict[tuple[EventKind, str, str], _Repeat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ConfigError(f"rule names must be unique: {names}")
        for rule in self.rules:
            if rule.threshold < 1 or rule.window <= 0 or rule.quiet <= 0 or not rule.kinds:
                raise ConfigError(f"rule {rule.name!r} needs kinds, threshold >= 1, window > 0")
        # newest first: if an old database holds two open alerts for one key, keep the newest
        for alert in self.storage.alerts(open_only=True, limit=1_000_000):
            last = alert.opened if alert.last is None else alert.last
            self._open.setdefault((alert.rule, alert.subject), _Open(alert.id, last))

    def record(self, event: SecurityEvent) -> None:
        event = _cleaned(event)
        received = None if self.clock is None else self.clock()
        self.storage.add_event(event, received)
        self._match(event, event.at if received is None else received)

    def record_repeated(self, event: SecurityEvent, key: str, window: float = 60.0) -> int:
        """Record ``event`` as one more of the refusals of its kind and source with ``key``
        (e.g. the client's address): the first within ``window`` seconds is stored, the
        following ones update it (``"<n> times in <s> s (first <t0>, last <t1>); latest:
        <detail>"``). Each counts for the rules. How many times it has now been seen."""
        event = _cleaned(event)
        received = None if self.clock is None else self.clock()
        now = event.at if received is None else received
        slot = (event.kind, event.source, key[:200])
        seen = self._repeats.get(slot)
        if seen is None or not 0 <= now - seen.first < window:
            if len(self._repeats) >= _MAX_REPEATS:
                self._forget(now, window)
            event_id = self.storage.add_event(event, received)
            seen = self._repeats[slot] = _Repeat(event_id, now, now, 1)
        else:
            seen.count += 1
            seen.last = now
            detail = (
                f"{seen.count} times in {now - seen.first:.0f} s (first {seen.first:.3f}, "
                f"last {now:.3f}); latest: {event.detail}"
            )
            self.storage.update_event(seen.event_id, _printable(detail, 4000), received)
        self._match(event, now)
        return seen.count

    def _forget(self, now: float, window: float) -> None:
        for slot, seen in list(self._repeats.items()):
            if not 0 <= now - seen.first < window:
                del self._repeats[slot]
        while len(self._repeats) >= _MAX_REPEATS:  # all recent: forget the oldest
            del self._repeats[next(iter(self._repeats))]

    def _match(self, event: SecurityEvent, now: float) -> None:
        for hook in self.on_event:
            hook(event)
        subject = subject_of(event.source)
        for rule in self.rules:
            if event.kind in rule.kinds:
                self._count(rule, event, subject, now)

    def _count(self, rule: Rule, event: SecurityEvent, subject: str, now: float) -> None:
        key = (rule.name, subject)
        evidence = f"{event.source}: {event.kind.value}: {event.detail}"[:500]
        current = self._open.get(key)
        if current is not None:
            current.last = now
            self.storage.bump_alert(current.alert_id, evidence, now)
            return
        times = self._seen.get(key)
        if times is None:
            times = self._seen[key] = deque(maxlen=rule.threshold)
        times.append(now)
        if len(times) == rule.threshold and now - times[0] <= rule.window:
            del self._seen[key]
            alert_id = self.storage.open_alert(rule.name, rule.severity, subject, now, evidence)
            self._open[key] = _Open(alert_id, now)
            for hook in self.on_alert:
                hook(alert_id, rule, subject)

    def tick(self, now: float) -> None:
        """Close the alerts that have been quiet for their rule's ``quiet`` seconds."""
        quiet = {rule.name: rule.quiet for rule in self.rules}
        for key, current in list(self._open.items()):
            if now - current.last >= quiet.get(key[0], 3600.0):
                self.storage.close_alert(current.alert_id, now)
                del self._open[key]


def _cleaned(event: SecurityEvent) -> SecurityEvent:
    # An event describes hostile input: it is stored whatever bytes it quotes (control
    # characters shown escaped, long texts cut), never refused.
    return SecurityEvent(
        event.kind, _printable(event.source, 200), _printable(event.detail, 4000), event.at
    )


def _printable(text: str, limit: int) -> str:
    if text.isprintable() and len(text) <= limit:
        return text
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown[:limit]
