"""The audit of meters' reports: quiet while every report arrives, a tamper event for a meter
whose reports were dropped on the way; and why it is needed (without it, the protected
deployment hears nothing of a suppressed tamper report)."""

from __future__ import annotations

from wattguard.attacks.scenarios.clock_tamper import report_dropper, with_report_audit
from wattguard.attacks.scenarios.deployed import StationView, Tap, fresh_deployment, meter_of
from wattguard.events import EventKind, EventLog
from wattguard.station.ingest import Reading
from wattguard.station.report_audit import REPORT_COUNTER, ReportAudit

METER = "000001000001"


def counter(value: int, at: int) -> Reading:
    return Reading(METER, REPORT_COUNTER, at, float(value))


def test_the_audit_waits_for_reports_on_their_way_and_flags_a_lasting_shortfall() -> None:
    heard = {"n": 3}
    events = EventLog()
    audit = ReportAudit(lambda meter: heard["n"], events, grace=1800)
    audit.on_readings([counter(5, 0)])  # first sight: five made, three heard: the baseline
    audit.on_readings([counter(7, 900)])  # two more made ...
    heard["n"] = 5
    audit.on_readings([counter(7, 1800)])  # ... and both arrived
    audit.on_readings([counter(8, 2700)])  # one more made, not arrived
    audit.on_readings([counter(8, 3600)])
    assert not events.events
    audit.on_readings([counter(8, 4500)])  # still missing after the grace
    assert len(events.events) == 1
    event = events.events[0]
    assert event.kind == EventKind.TAMPER and event.source == f"meter {METER}"
    assert "1 report(s)" in event.detail
    audit.on_readings([counter(8, 5400)])  # once per shortfall
    audit.on_readings([Reading(METER, "00100201", 5400, 1.0)])  # other readings: ignored
    assert len(events.events) == 1


def test_a_deployment_with_the_audit_is_quiet_when_reports_arrive() -> None:
    deployment = fresh_deployment(True, meters=3, per_terminal=3)
    with_report_audit(deployment)
    _, meter = meter_of(deployment)
    view = StationView(deployment)
    meter.management.cover_opened(deployment.clock.time())
    deployment.run_virtual(2 * 3600)
    tamper = [e for e in view.events() if e.kind == EventKind.TAMPER]
    assert tamper and all("reported" in e.detail for e in tamper)  # the meter's own report
    assert not any("never reached" in e.detail for e in view.events())


def test_without_the_audit_a_suppressed_tamper_report_goes_unheard() -> None:
    deployment = fresh_deployment(True)  # protected, as the demo wires it
    net, meter = meter_of(deployment)
    Tap(net, report_dropper(meter.address, []))
    view = StationView(deployment)
    meter.management.cover_opened(deployment.clock.time())
    deployment.run_virtual(2 * 3600)
    assert not [e for e in view.events() if e.kind == EventKind.TAMPER]
