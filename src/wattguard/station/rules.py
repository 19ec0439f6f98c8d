"""Station rules: behaviour triggered by external conditions, as a sans-IO core.

Theory of operation. A :class:`Rule` is a condition (:mod:`wattguard.station.rule_spec`: a
meter's readings, events, a district's load against its transformer's capacity, the time of
day) and an action (a command to meters, or an operational alert), with an owner and a
cool-down. :class:`RuleEngine` holds the enabled rules and what it has observed; the station
hands it what happens and asks it, at each tick, what fires:

* :meth:`RuleEngine.observe_readings` takes each stored batch. For a reading condition it
  keeps, per rule and meter, the *excursion*: since when the meter's readings of the
  quantity have been out of the band (reset by a reading back inside); for a district load,
  the same of the district's load (the supply meter's power, or the rise of its energy
  register between two readings, per hour), as a share of the capacity;
* :meth:`RuleEngine.observe_event` takes each security and operational event, kept per rule
  and subject (the meter, or the event's source) for the condition's window;
* :meth:`RuleEngine.evaluate` (``now`` passed in) gives a :class:`Firing` for each rule and
  subject whose condition holds: an excursion at least ``for`` seconds long (measured between
  the readings' own times, so five minutes of readings prove five minutes), enough events in
  the window, the time windows holding. Each firing carries its *evidence*: the values that
  made the condition true.

A rule fires again for the same subject only after its ``cooldown`` (seconds of the station's
clock) and only on new evidence (a reading or event later than the last firing's), so a
condition that stays true fires once per cool-down and a meter that stopped reporting does
not fire on its last value forever. The cool-down is per subject: one meter's credit alarm
does not hold back another's. :meth:`RuleEngine.restore` takes back the last firings a
restarted station stored, so a restart does not reset the cool-downs.

The engine reads no clock and does no I/O: the station's :class:`~wattguard.station.rule_book.
RuleBook` stores rules and firings and carries out the actions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wattguard.events import SecurityEvent
from wattguard.protocol.objects import Unit
from wattguard.station.ingest import Reading
from wattguard.station.records import meter_of
from wattguard.station.rule_spec import (
    Action,
    AllOf,
    Condition,
    DistrictLoad,
    EventCondition,
    ReadingCondition,
    TimeWindow,
    load_unit,
    subject_condition,
)

__all__ = ["EventFact", "Firing", "Rule", "RuleEngine", "security_fact"]

#: The subject of a rule that names no meter or district (a time alone).
EVERYWHERE = "*"
#: Event details kept as a firing's evidence.
_DETAILS = 5
#: The most (rule, subject) event counts kept: subjects are events' sources, which a flood
#: from many addresses could multiply; past it, counts that went quiet are forgotten first.
MAX_COUNTS = 100_000


@dataclass(frozen=True, slots=True)
class Rule:
    """A condition and an action, owned by a station user, with a cool-down in seconds."""

    id: int
    name: str
    owner: str
    condition: Condition
    action: Action
    cooldown: float = 3600.0
    enabled: bool = True
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class EventFact:
    """A security or an operational event as rules see it."""

    family: str  # "security" | "operational"
    kind: str  # the kind's value: "tamper", "credit low"
    subject: str  # the meter's address, or the event's source
    detail: str
    at: float
    meter: str | None = None


def security_fact(event: SecurityEvent) -> EventFact:
    """A security event as rules see it: its subject is the meter its source names, if any."""
    meter = meter_of(event.source)
    subject = event.source if meter is None else meter
    return EventFact("security", event.kind.value, subject, event.detail, event.at, meter)


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired for one subject at ``time``, with the evidence that made its condition
    true; ``outcome`` and ``command_id`` say what its action did (filled in when stored)."""

    rule_id: int
    time: float
    subject: str
    evidence: Mapping[str, Any]
    meters: tuple[str, ...] = ()  # the meters the condition matched
    district: str | None = None  # the terminal of a matched district
    outcome: str = ""
    command_id: int | None = None
    id: int = 0


@dataclass
class _Excursion:
    since: int | None = None  # the first reading out of the band, while it lasts
    first: float = 0.0
    extreme: float = 0.0
    at: int = -(2**62)  # the latest reading's time
    value: float = 0.0
    previous: tuple[int, float] | None = None  # the register's last (time, value): loads


@dataclass
class _Events:
    times: deque[float]
    details: deque[str] = field(default_factory=lambda: deque(maxlen=_DETAILS))
    meter: str | None = None
    last: float = 0.0


@dataclass(frozen=True, slots=True)
class _Candidate:
    subject: str
    evidence: dict[str, Any]
    at: float  # the newest evidence's time
    meters: tuple[str, ...] = ()
    district: str | None = None


@dataclass
class RuleEngine:
    """The rules' conditions over what the station observed (see the module docstring).
    ``supply`` maps a district's terminal to its supply meter (the station's, shared)."""

    supply: Mapping[str, str] = field(default_factory=dict)
    _rules: dict[int, Rule] = field(default_factory=dict)
    # per rule, by meter (or terminal) and by subject: a rule walks only its own
    _excursions: dict[int, dict[str, _Excursion]] = field(default_factory=dict)
    _events: dict[int, dict[str, _Events]] = field(default_factory=dict)
    _fired: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)

    def put(self, rule: Rule) -> None:
        """Add or replace ``rule`` (a disabled one is dropped); its observations start over."""
        self.drop(rule.id)
        if rule.enabled:
            self._rules[rule.id] = rule

    def drop(self, rule_id: int) -> None:
        """Forget a rule and what was observed for it (not its last firings: the cool-down
        of a rule disabled and enabled again still holds)."""
        self._rules.pop(rule_id, None)
        self._excursions.pop(rule_id, None)
        self._events.pop(rule_id, None)

    def restore(self, rule_id: int, subject: str, time: float) -> None:
        """A firing stored before a restart: the cool-down and the evidence count from it."""
        before = self._fired.get((rule_id, subject))
        if before is None or before[0] < time:
            self._fired[(rule_id, subject)] = (time, time)

    @property
    def rules(self) -> list[Rule]:
        """The enabled rules, by id."""
        return [self._rules[k] for k in sorted(self._rules)]

    def supply_of(self, condition: DistrictLoad) -> str | None:
        """The supply meter of a district load: named, or the terminal's registered one."""
        return condition.supply_meter or self.supply.get(condition.terminal)

    # observing

    def observe_readings(self, readings: Iterable[Reading]) -> None:
        """Take a batch of stored readings (in any order)."""
        batch = sorted(readings, key=lambda r: r.time)
        for rule in self._rules.values():
            condition = subject_condition(rule.condition)
            if isinstance(condition, ReadingCondition):
                self._readings(rule.id, condition, batch)
            elif isinstance(condition, DistrictLoad):
                self._loads(rule.id, condition, batch)

    def _readings(self, rule_id: int, condition: ReadingCondition, batch: list[Reading]) -> None:
        wanted = set(condition.meters)
        for reading in batch:
            if reading.quantity != condition.quantity or (wanted and reading.meter not in wanted):
                continue
            states = self._excursions.setdefault(rule_id, {})
            state = states.setdefault(reading.meter, _Excursion())
            _step(state, reading.time, reading.value, condition.band.out(reading.value))

    def _loads(self, rule_id: int, condition: DistrictLoad, batch: list[Reading]) -> None:
        meter = self.supply_of(condition)
        unit = load_unit(condition.quantity)
        for reading in batch:
            if reading.meter != meter or reading.quantity != condition.quantity:
                continue
            state = self._excursions.setdefault(rule_id, {}).setdefault(
                condition.terminal, _Excursion()
            )
            if reading.time <= state.at:
                continue
            if unit == Unit.KWH:
                previous, state.previous = state.previous, (reading.time, reading.value)
                if previous is None or reading.time <= previous[0]:
                    continue
                load = (reading.value - previous[1]) * 3600.0 / (reading.time - previous[0])
            else:
                load = reading.value / 1000.0 if unit == Unit.W else reading.value
            share = load / condition.capacity_kw
            _step(state, reading.time, load, share > condition.above_share)

    def observe_event(self, event: EventFact, now: float) -> None:
        """Take one event, observed at ``now`` (the station's clock)."""
        for rule in self._rules.values():
            condition = subject_condition(rule.condition)
            if not isinstance(condition, EventCondition):
                continue
            if condition.family != event.family or condition.kind != event.kind:
                continue
            counts = self._events.setdefault(rule.id, {})
            seen = counts.get(event.subject)
            if seen is None:
                if sum(map(len, self._events.values())) >= MAX_COUNTS:
                    self._forget_counts(now)
                seen = counts[event.subject] = _Events(deque(maxlen=condition.count))
            seen.times.append(now)
            seen.details.append(f"{event.at:.0f}: {event.detail}"[:200])
            seen.meter, seen.last = event.meter, now

    def _forget_counts(self, now: float) -> None:
        """Drop the event counts past their window; if too many are left, the older half."""
        for rule_id, counts in self._events.items():
            condition = subject_condition(self._rules[rule_id].condition)
            within = condition.within if isinstance(condition, EventCondition) else 0.0
            for subject in [k for k, seen in counts.items() if now - seen.last > within]:
                del counts[subject]
        every = [
            (seen.last, r, k) for r, counts in self._events.items() for k, seen in counts.items()
        ]
        if len(every) >= MAX_COUNTS:
            for _, rule_id, subject in sorted(every)[: len(every) // 2]:
                del self._events[rule_id][subject]

    # evaluating

    def evaluate(self, now: float) -> list[Firing]:
        """What fires at ``now``: one firing per rule and subject whose condition holds, past
        its cool-down, on new evidence."""
        fired = []
        for rule in self.rules:
            if not _times_hold(rule.condition, now):
                continue
            for candidate in self._candidates(rule, now):
                key = (rule.id, candidate.subject)
                last = self._fired.get(key)
                if last is not None and (now - last[0] < rule.cooldown or candidate.at <= last[1]):
                    continue
                self._fired[key] = (now, candidate.at)
                self._events.get(rule.id, {}).pop(candidate.subject, None)  # used up
                evidence = {**candidate.evidence, **_windows(rule.condition)}
                fired.append(
                    Firing(rule.id, now, candidate.subject, evidence, candidate.meters,
                           candidate.district)
                )  # fmt: skip
        return fired

    def holds(self, rule_id: int, subject: str, now: float) -> bool:
        """Whether the rule's condition still holds for ``subject`` (its alert stays open)."""
        rule = self._rules.get(rule_id)
        if rule is None or not _times_hold(rule.condition, now):
            return False
        condition = subject_condition(rule.condition)
        if condition is None:
            return True
        if isinstance(condition, EventCondition):
            seen = self._events.get(rule_id, {}).get(subject)
            last = self._fired.get((rule_id, subject), (0.0, 0.0))[0]
            latest = max(last, 0.0 if seen is None else seen.last)
            return now - latest < condition.within
        key = subject.removeprefix("district ")
        state = self._excursions.get(rule_id, {}).get(key)
        return state is not None and state.since is not None

    def _candidates(self, rule: Rule, now: float) -> list[_Candidate]:
        condition = subject_condition(rule.condition)
        if condition is None:
            return [_Candidate(EVERYWHERE, {"time": now}, now)]
        if isinstance(condition, EventCondition):
            return self._event_candidates(rule.id, condition, now)
        if not isinstance(condition, ReadingCondition | DistrictLoad):
            return []
        found = []
        for key, state in self._excursions.get(rule.id, {}).items():
            if state.since is None:
                continue
            if state.at - state.since < condition.hold:
                continue
            evidence: dict[str, Any] = {
                "quantity": condition.quantity, "since": state.since, "at": state.at,
                "first": state.first, "latest": state.value, "extreme": state.extreme,
                "held": state.at - state.since,
            }  # fmt: skip
            if isinstance(condition, DistrictLoad):
                evidence.update(
                    terminal=key, supply_meter=self.supply_of(condition), unit="kW",
                    capacity_kw=condition.capacity_kw, above_share=condition.above_share,
                    share=round(state.value / condition.capacity_kw, 4),
                )  # fmt: skip
                found.append(_Candidate(f"district {key}", evidence, state.at, district=key))
            else:
                evidence.update(meter=key, **_band_evidence(condition))
                found.append(_Candidate(key, evidence, state.at, meters=(key,)))
        return found

    def _event_candidates(
        self, rule_id: int, condition: EventCondition, now: float
    ) -> list[_Candidate]:
        found = []
        for subject, seen in self._events.get(rule_id, {}).items():
            if len(seen.times) < condition.count:
                continue
            if now - seen.times[0] > condition.within:
                continue
            evidence = {
                condition.family: condition.kind, "subject": subject, "count": len(seen.times),
                "within": condition.within, "events": list(seen.details),
            }  # fmt: skip
            meters = () if seen.meter is None else (seen.meter,)
            found.append(_Candidate(subject, evidence, seen.last, meters=meters))
        return found


def _step(state: _Excursion, time: int, value: float, out: bool) -> None:
    """One reading of an excursion's quantity (older ones than the latest are ignored)."""
    if time <= state.at:
        return
    state.at, state.value = time, value
    if not out:
        state.since = None
    elif state.since is None:
        state.since, state.first, state.extreme = time, value, value
    elif abs(value - state.first) > abs(state.extreme - state.first):
        state.extreme = value


def _band_evidence(condition: ReadingCondition) -> dict[str, Any]:
    band = condition.band
    return {"above": band.above, "below": band.below, "for": condition.hold}


def _time_parts(condition: Condition) -> list[TimeWindow]:
    if isinstance(condition, TimeWindow):
        return [condition]
    if isinstance(condition, AllOf):
        return [part for part in condition.parts if isinstance(part, TimeWindow)]
    return []


def _times_hold(condition: Condition, now: float) -> bool:
    return all(window.holds(now) for window in _time_parts(condition))


def _windows(condition: Condition) -> dict[str, Any]:
    windows = _time_parts(condition)
    if not windows:
        return {}
    return {"between": [[_clock(w.start), _clock(w.end)] for w in windows]}


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
