"""A terminal counts as online only while its heartbeats keep coming, and meters that stop
reporting (and a terminal whose meters do) raise alerts (issue #13, item 4)."""

from __future__ import annotations

from wattguard.events import EventKind, EventLog
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.watch import ReportingWatch
from wattguard.testing import T0


def small_deployment() -> Deployment:
    config = DeploymentConfig(meters=4, per_terminal=2, start=T0, protected=False)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment


def test_a_terminal_that_falls_silent_is_no_longer_online_and_its_meters_alert() -> None:
    deployment = small_deployment()
    assert deployment.summary().terminals_online == 2
    first, second = (net.terminal.address for net in deployment.nets)
    # The first terminal's line goes dead without a word: the station hears nothing more.
    deployment.sessions.pop(first)
    deployment.run_virtual(2 * 300 + 60)  # two heartbeat periods and a minute
    assert deployment.summary().terminals_online == 1
    deployment.run_virtual(3 * 900)  # three collection intervals
    alerts = deployment.storage.alerts(open_only=True)
    silent = {a.subject for a in alerts if a.rule == "stopped reporting"}
    mine = {f"meter {m.hex()}" for m in deployment.nets[0].meters}
    assert silent == mine | {f"station/watch terminal {first.hex()}"}
    assert all(second.hex() not in a.subject for a in alerts)
    # The line comes back: the terminal logs in again, its meters report, reminders stop.
    deployment.reconnect(first)
    deployment.run_virtual(1800)
    assert deployment.summary().terminals_online == 2
    assert deployment.station.watch.silent == set()
    assert deployment.station.watch.silent_terminals == set()


def test_the_watch_reminds_while_a_meter_stays_silent_and_not_after() -> None:
    log = EventLog()
    terminal = bytes.fromhex("990000000001")
    meters = {f"{i:012d}": terminal for i in range(1, 5)}
    watch = ReportingWatch(meters, log, started=T0, interval=900.0)
    for t in range(0, 2700, 60):  # three of the four report every collection round
        watch.seen(list(meters)[:3], T0 + t)
        watch.check(T0 + t)
    assert not log.events
    watch.check(T0 + 2700)  # the fourth has sent nothing for three intervals
    (event,) = list(log.events)
    assert event.kind == EventKind.SILENCE and event.source == "station/watch meter 000000000004"
    assert "3.0 collection intervals" in event.detail
    watch.check(T0 + 2760)  # no repeat within an interval...
    watch.check(T0 + 3600)  # ... and one a whole interval later
    assert len(log.events) == 2
    watch.seen(["000000000004"], T0 + 3650)
    watch.check(T0 + 4600)
    assert len(log.events) == 2 and watch.silent == set()
