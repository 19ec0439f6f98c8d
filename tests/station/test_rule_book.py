"""The station's rules in service, on every storage backend: supervisors change them (others
are refused, with a security event), every change and firing is audited, firings are stored
with their evidence, and a restarted station keeps its rules, cool-downs and open alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.clock import VirtualClock
from wattguard.events import EventKind, SecurityEvent
from wattguard.network.bus import InProcessBus
from wattguard.station.commands import CommandKind, CommandRefused, Role, User
from wattguard.station.ingest import Reading
from wattguard.station.rule_book import RuleNotFound
from wattguard.station.rule_spec import RuleInvalid
from wattguard.station.service import Station
from wattguard.station.storage import Storage
from wattguard.testing.storage import PERSISTENT, Backend

T0 = 1_700_000_000.0
SUN = User("sun", Role.SUPERVISOR)
OTTO = User("otto", Role.OPERATOR)
M1, M2, TERMINAL = "000000000001", "000000000002", "0000000000f1"
VOLTAGE = {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300}}
ALERT = {"alert": {"severity": "warning", "message": "voltage out of band"}}


def station(storage: Storage, clock: VirtualClock) -> Station:
    made = Station(storage, InProcessBus(), clock)
    made.users.ensure({"sun-token-123456": SUN, "otto-token-12345": OTTO})
    for meter in (M1, M2):
        made.register_meter(bytes.fromhex(meter), bytes.fromhex(TERMINAL))
    return made


def volts(meter: str, t: float, value: float) -> Reading:
    return Reading(meter, "20000201", int(T0 + t), value)


def test_only_a_supervisor_changes_rules_and_every_change_is_audited(backend: Backend) -> None:
    clock = VirtualClock(T0)
    s = station(backend.open(), clock)
    with pytest.raises(CommandRefused, match="supervisor role"):
        s.rules.create(OTTO, "volts", VOLTAGE, ALERT)
    refused = s.storage.events(kind=EventKind.UNAUTHORISED)
    assert refused and refused[0].source == "station/rules"
    with pytest.raises(RuleInvalid, match=r"condition\.reading\.outside"):
        s.rules.create(SUN, "volts", {"reading": {"quantity": "20000201", "outside": [1]}}, ALERT)
    for cooldown in (-1, 0, 59, 367 * 86_400):
        with pytest.raises(RuleInvalid, match="cooldown: from 60 to"):
            s.rules.create(SUN, "volts", VOLTAGE, ALERT, cooldown=cooldown)
    rule = s.rules.create(SUN, "volts", VOLTAGE, ALERT, cooldown=600)
    assert rule.owner == "sun" and rule.enabled and rule.id
    with pytest.raises(CommandRefused):
        s.rules.set_enabled(OTTO, rule.id, False)
    assert not s.rules.set_enabled(SUN, rule.id, False).enabled
    assert s.rules.set_enabled(SUN, rule.id, True).enabled
    with pytest.raises(RuleNotFound):
        s.rules.delete(SUN, rule.id + 1)
    actions = [row.action for row in s.storage.audit()]
    assert actions.count("refuse") == 2
    assert [a for a in actions if a.startswith("rule ")] == [
        "rule create",
        "rule disable",
        "rule enable",
    ]
    created = next(row for row in s.storage.audit() if row.action == "rule create")
    assert '"outside": [198.0, 242.0]' in created.detail and "by sun" in created.detail
    assert s.verify_audit() is None


def test_a_firing_is_stored_with_its_evidence_and_its_alert_closes(backend: Backend) -> None:
    clock = VirtualClock(T0)
    s = station(backend.open(), clock)
    rule = s.rules.create(SUN, "volts", VOLTAGE, ALERT, cooldown=600)
    s.rules.observe_readings([volts(M1, 0, 250.0), volts(M1, 300, 252.0), volts(M2, 300, 231.0)])
    clock.advance(310)
    s.tick()
    [firing] = s.storage.firings(rule.id)
    assert (firing.subject, firing.meters, firing.id) == (M1, (M1,), firing.id) and firing.id
    assert firing.evidence["first"] == 250.0 and firing.evidence["held"] == 300
    assert firing.outcome.startswith("alert #") and firing.outcome.endswith("opened")
    [alert] = [a for a in s.storage.alerts(open_only=True) if a.rule.startswith("rule #")]
    assert alert.rule == f"rule #{rule.id}: volts" and alert.subject == f"meter {M1}"
    assert "voltage out of band" in alert.evidence and '"latest":252.0' in alert.evidence
    assert s.storage.audit()[-1].action == "rule fire"
    s.rules.observe_readings([volts(M1, 400, 229.0)])  # back in band
    clock.advance(60)
    s.tick()
    assert not [a for a in s.storage.alerts(open_only=True) if a.rule.startswith("rule #")]


def test_security_events_reach_the_rules_from_the_station(backend: Backend) -> None:
    clock = VirtualClock(T0)
    s = station(backend.open(), clock)
    tamper = s.rules.create(SUN, "tamper", {"event": {"security": "tamper"}}, ALERT)
    s.monitor.record(SecurityEvent(EventKind.TAMPER, f"meter {M2} cover", "opened", T0))
    s.monitor.record(SecurityEvent(EventKind.CLOCK, f"meter {M1}", "set", T0))
    s.tick()
    [firing] = s.storage.firings(tamper.id)
    assert firing.meters == (M2,) and firing.evidence["events"] == [f"{T0:.0f}: opened"]


@pytest.mark.parametrize("name", PERSISTENT)
def test_a_restarted_station_keeps_rules_cool_downs_and_open_alerts(
    name: str, tmp_path: Path
) -> None:
    backend = Backend(name, tmp_path)
    try:
        clock = VirtualClock(T0)
        first = station(backend.open(), clock)
        rule = first.rules.create(SUN, "volts", VOLTAGE, ALERT, cooldown=3600)
        gone = first.rules.create(SUN, "gone", VOLTAGE, ALERT)
        first.rules.delete(SUN, gone.id)
        first.rules.observe_readings([volts(M1, 0, 250.0), volts(M1, 300, 250.0)])
        clock.advance(310)
        first.tick()
        assert len(first.storage.firings()) == 1
        again = station(backend.open(), clock)
        assert [r.id for r in again.rules.rules()] == [rule.id]  # the deleted one stays gone
        again.rules.observe_readings([volts(M1, 900, 250.0), volts(M1, 1200, 250.0)])
        clock.advance(1000)
        again.tick()
        assert len(again.storage.firings()) == 1  # still cooling down after the restart
        clock.advance(3000)
        again.tick()
        assert len(again.storage.firings()) == 2
        assert again.storage.firings()[0].outcome.endswith("bumped")  # the alert it kept
    finally:
        backend.cleanup()


def test_a_command_runs_as_its_owner_with_the_owners_current_role(backend: Backend) -> None:
    clock = VirtualClock(T0)
    s = station(backend.open(), clock)
    trip = {"command": {"kind": CommandKind.TRIP.value, "targets": "district"}}
    rule = s.rules.create(SUN, "trip", {"reading": {"quantity": "20000201", "above": 300}}, trip)
    s.rules.observe_readings([volts(M1, 0, 301.0)])
    s.tick()
    [firing] = s.storage.firings(rule.id)
    command = s.commands.get(firing.command_id or 0)
    assert command.issued_by == "sun" and command.meters == (M1, M2)  # the terminal's meters
    assert firing.outcome.startswith(f"command #{command.id} ")
    s.users.disable("sun")
    s.rules.observe_readings([volts(M1, 4000, 301.0)])
    clock.advance(4000)
    s.tick()
    assert s.storage.firings(rule.id)[0].outcome == "refused: the owner sun is disabled"
    assert len(s.commands.commands) == 1


def test_a_rule_gains_its_owner_nothing_past_the_command_rules(backend: Backend) -> None:
    clock = VirtualClock(T0)
    s = station(backend.open(), clock)
    many = [f"{k:012d}" for k in range(10, 22)]
    for meter in many:
        s.register_meter(bytes.fromhex(meter), bytes.fromhex(TERMINAL))
    trip = {"command": {"kind": "trip", "targets": "district"}}
    mass = s.rules.create(
        SUN, "mass trip", {"reading": {"quantity": "20000201", "above": 300}}, trip
    )
    write = {"command": {"kind": "set parameter", "argument": "4100-02=15", "targets": "matched"}}
    low = {"reading": {"quantity": "20000201", "below": 150}}
    param = s.rules.create(SUN, "write", low, write)
    s.rules.observe_readings([volts(M1, 0, 301.0)])
    s.tick()
    [held] = s.storage.firings(mass.id)
    command = s.commands.get(held.command_id or 0)
    assert len(command.meters) == 14 and command.state.value == "awaiting approval"
    assert held.outcome.startswith(f"command #{command.id} awaiting approval: a trip of 14")
    s.users.ensure({"sun-token-123456": User("sun", Role.OPERATOR)})  # sun is demoted
    s.rules.observe_readings([volts(M2, 0, 140.0)])
    s.tick()
    [refused] = s.storage.firings(param.id)
    assert refused.outcome == "refused: set parameter needs the supervisor role"
    assert s.storage.events(kind=EventKind.UNAUTHORISED)[0].source == "station/commands"
