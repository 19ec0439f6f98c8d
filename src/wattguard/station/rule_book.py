"""The station's rules in service: kept in storage, changed under the station's roles with
every change audited, evaluated at each tick, their actions carried out and every firing
stored with its evidence.

Theory of operation. :class:`RuleBook` wraps the sans-IO :class:`~wattguard.station.rules.
RuleEngine`. It loads the stored rules (and their last firings, so cool-downs survive a
restart) at start; a supervisor creates, enables, disables and deletes rules (a lesser role is
refused: an UNAUTHORISED security event and an audit entry, like a refused command); each
change is an entry in the station's SM3-chained audit trail. The station hands it every
stored batch of readings and every security and operational event, and calls :meth:`tick`.

A firing's action runs with the station's ordinary machinery, never beside it:

* a command is issued by the station (``issue``) *as the rule's owner*, with the owner's
  current role: the command rules apply unchanged (a disabled owner, or one whose role no
  longer allows the kind, is refused; a mass trip waits for a second person's approval), and
  the command book audits it like any other. ``matched`` targets the meters whose values made
  the condition true, ``district`` every meter behind their terminal (a district's supply
  meter left out), or the rule's list;
* an alert opens in the station's alert table (rule ``rule #<id>: <name>``) or, while open,
  is bumped; it closes when the condition no longer holds.

Each firing is stored with its evidence and what its action did (``outcome``: the command's
id and state or the refusal's reason, or the alert's id) and written to the audit trail.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.station.commands import Command, CommandKind, CommandRefused, Role, User
from wattguard.station.ingest import Reading
from wattguard.station.records import Alert, StorageError
from wattguard.station.rule_spec import (
    AlertAction,
    CommandAction,
    DistrictLoad,
    RuleInvalid,
    action_json,
    condition_json,
    parse_action,
    parse_condition,
    subject_condition,
)
from wattguard.station.rules import EventFact, Firing, Rule, RuleEngine
from wattguard.station.storage import Storage

__all__ = ["RuleBook", "RuleNotFound"]

log = logging.getLogger(__name__)

#: Issue a command as a user: the station's ``issue``.
Issue = Callable[[User, CommandKind, tuple[str, ...], str], Command]
_ALERT = re.compile(r"rule #([0-9]+): ")
#: The longest cool-down: a year; the shortest a minute (a rule whose action causes the events
#: it counts, a refused command's UNAUTHORISED event, then fires at most once a minute).
MAX_COOLDOWN = 366 * 86_400.0
MIN_COOLDOWN = 60.0
#: The most rules a station keeps (each is evaluated at every tick).
MAX_RULES = 1000


class RuleNotFound(ConfigError):
    """No rule has the id asked for."""

    def __init__(self, rule_id: int) -> None:
        super().__init__(f"no rule {rule_id}")
        self.rule_id = rule_id


class RuleBook:
    """The station's rules: stored, changed by supervisors, audited, evaluated and acted on."""

    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], float],
        *,
        issue: Issue,
        user_of: Callable[[str], User | None],
        members: Callable[[str], tuple[str, ...]],
        district_of: Callable[[str], str | None],
        supply: Mapping[str, str],
        audit: Callable[[str, str], None] | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.storage, self.clock, self.issue, self.user_of = storage, clock, issue, user_of
        self.members, self.district_of, self.audit, self.events = (
            members,
            district_of,
            audit,
            events,
        )
        self.engine = RuleEngine(supply)
        self._rules: dict[int, Rule] = {}
        self._open: dict[tuple[int, str], int] = {}  # (rule, subject) -> open alert id
        for rule in storage.stored_rules():
            self._rules[rule.id] = rule
            self.engine.put(rule)
        for rule_id, subject, time in storage.last_firings():
            self.engine.restore(rule_id, subject, time)
        for alert in storage.alerts(open_only=True, limit=100_000):
            self._reopen(alert)

    def _reopen(self, alert: Alert) -> None:
        found = _ALERT.match(alert.rule)
        if found is not None and int(found.group(1)) in self._rules:
            subject = alert.subject.removeprefix("meter ")
            self._open.setdefault((int(found.group(1)), subject), alert.id)

    # changes

    def create(
        self, user: User, name: str, condition: object, action: object, cooldown: float = 3600.0
    ) -> Rule:
        """A new rule owned by ``user`` (supervisor role): ``condition`` and ``action`` as
        parsed JSON (:mod:`~wattguard.station.rule_spec`); :class:`RuleInvalid` says what is
        wrong with them, :class:`CommandRefused` that the user may not."""
        self._allowed(user, "creating a rule")
        if len(self._rules) >= MAX_RULES:
            raise RuleInvalid(f"the station has {MAX_RULES} rules, the most it keeps: delete one")
        if not isinstance(name, str) or not 1 <= len(name) <= 80 or not name.isprintable():
            raise RuleInvalid("name: 1 to 80 printable characters")
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float):
            raise RuleInvalid("cooldown: must be a number of seconds")
        if not MIN_COOLDOWN <= cooldown <= MAX_COOLDOWN:
            raise RuleInvalid(f"cooldown: from {MIN_COOLDOWN:g} to {MAX_COOLDOWN:g} seconds")
        parsed, act = parse_condition(condition), parse_action(action)
        named = isinstance(act, CommandAction) and isinstance(act.targets, str)
        if named and subject_condition(parsed) is None:
            raise RuleInvalid("action.command.targets: a time alone matches no meter: list them")
        now = self.clock()
        rule = Rule(0, name, user.name, parsed, act, float(cooldown), True, now, now)
        rule = replace(rule, id=self.storage.save_rule(rule))
        self._rules[rule.id] = rule
        self.engine.put(rule)
        when, then = json.dumps(condition_json(parsed)), json.dumps(action_json(act))
        self._audit("rule create", f"#{rule.id} {name!r} by {user.name}: when {when} do {then}")
        return rule

    def set_enabled(self, user: User, rule_id: int, enabled: bool) -> Rule:
        """Enable or disable a rule (supervisor role)."""
        rule = self.get(rule_id)
        self._allowed(user, "enabling a rule" if enabled else "disabling a rule")
        rule = replace(rule, enabled=enabled, updated=self.clock())
        self.storage.save_rule(rule)
        self._rules[rule_id] = rule
        self.engine.put(rule)
        self._audit(f"rule {'enable' if enabled else 'disable'}", f"#{rule_id} by {user.name}")
        return rule

    def delete(self, user: User, rule_id: int) -> None:
        """Delete a rule (supervisor role); its firings stay."""
        self.get(rule_id)
        self._allowed(user, "deleting a rule")
        self.storage.delete_rule(rule_id, self.clock())
        del self._rules[rule_id]
        self.engine.drop(rule_id)
        self._audit("rule delete", f"#{rule_id} by {user.name}")

    def get(self, rule_id: int) -> Rule:
        """The rule with this id, or :class:`RuleNotFound`."""
        try:
            return self._rules[rule_id]
        except KeyError:
            raise RuleNotFound(rule_id) from None

    def rules(self) -> list[Rule]:
        """Every rule (enabled or not), by id."""
        return [self._rules[k] for k in sorted(self._rules)]

    def _allowed(self, user: User, what: str) -> None:
        if user.role >= Role.SUPERVISOR:
            return
        reason = f"{what} needs the supervisor role"
        if self.events is not None:
            detail = f"{user.name} ({user.role.name.lower()}): {reason}"
            self.events.record(
                SecurityEvent(EventKind.UNAUTHORISED, "station/rules", detail, self.clock())
            )
        self._audit("refuse", f"{user.name}: {reason}")
        raise CommandRefused(reason)

    def _audit(self, action: str, detail: str) -> None:
        if self.audit is not None:
            self.audit(action, detail[:1000])

    # running

    def observe_readings(self, readings: list[Reading]) -> None:
        """A batch of readings the station stored."""
        self.engine.observe_readings(readings)

    def observe_event(self, event: EventFact) -> None:
        """A security or operational event the station recorded."""
        self.engine.observe_event(event, self.clock())

    def tick(self) -> list[Firing]:
        """Fire what holds now, carry out the actions, store the firings; close the alerts
        whose condition no longer holds. The firings, as stored."""
        now = self.clock()
        done = []
        for firing in self.engine.evaluate(now):
            rule = self._rules[firing.rule_id]
            try:
                acted = self._act(rule, firing, now)
                acted = replace(acted, id=self.storage.add_firing(acted))
            except StorageError as exc:  # the next tick tries the others; this one is lost
                log.warning("rule #%d: its firing was not stored: %s", rule.id, exc)
                continue
            self._audit("rule fire", f"#{rule.id} {firing.subject}: {acted.outcome}")
            done.append(acted)
        for (rule_id, subject), alert_id in list(self._open.items()):
            if not self.engine.holds(rule_id, subject, now):
                try:
                    self.storage.close_alert(alert_id, now)
                except StorageError as exc:  # tried again at the next tick
                    log.warning("rule #%d: its alert was not closed: %s", rule_id, exc)
                    continue
                del self._open[(rule_id, subject)]
        return done

    def _act(self, rule: Rule, firing: Firing, now: float) -> Firing:
        if isinstance(rule.action, AlertAction):
            return self._alert(rule, rule.action, firing, now)
        action = rule.action
        owner = self.user_of(rule.owner)
        if owner is None:
            return replace(firing, outcome=f"refused: the owner {rule.owner} is disabled")
        targets = self._targets(action, firing)
        if not targets:
            return replace(firing, outcome="no meter to command")
        try:
            kind = CommandKind(action.kind)
        except ValueError:  # a kind this station no longer has
            return replace(firing, outcome=f"refused: no command kind {action.kind!r}")
        try:
            command = self.issue(owner, kind, targets, action.argument)
        except CommandRefused as refused:
            return replace(firing, outcome=f"refused: {refused.reason}"[:500])
        except ConfigError as exc:  # e.g. the cryptographic device cannot be reached
            return replace(firing, outcome=f"failed: {exc}"[:500])
        outcome = f"command #{command.id} {command.state.value}"
        if command.reason:
            outcome += f": {command.reason}"
        return replace(firing, outcome=outcome[:500], command_id=command.id)

    def _targets(self, action: CommandAction, firing: Firing) -> tuple[str, ...]:
        if not isinstance(action.targets, str):
            return action.targets
        if action.targets == "matched":
            return firing.meters
        terminals = {firing.district} if firing.district else set()
        terminals |= {t for t in map(self.district_of, firing.meters) if t is not None}
        supply = set(self.engine.supply.values())
        condition = subject_condition(self._rules[firing.rule_id].condition)
        if isinstance(condition, DistrictLoad) and condition.supply_meter is not None:
            supply.add(condition.supply_meter)
        meters = {m for t in terminals for m in self.members(t)} - supply
        return tuple(sorted(meters))

    def _alert(self, rule: Rule, action: AlertAction, firing: Firing, now: float) -> Firing:
        subject = firing.subject
        shown = f"meter {subject}" if firing.meters == (subject,) else subject
        evidence = json.dumps(dict(firing.evidence), separators=(",", ":"))
        text = f"{action.message}: {evidence}" if action.message else evidence
        key = (rule.id, subject)
        alert_id = self._open.get(key)
        if alert_id is not None:
            self.storage.bump_alert(alert_id, text[:500], now)
            return replace(firing, outcome=f"alert #{alert_id} bumped")
        name = f"rule #{rule.id}: {rule.name}"
        alert_id = self.storage.open_alert(name, action.severity, shown, now, text[:500])
        self._open[key] = alert_id
        return replace(firing, outcome=f"alert #{alert_id} opened")
