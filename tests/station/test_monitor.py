"""The security monitor, on every backend: events stored, rules counted per subject in sliding
windows, one alert per open incident, quiet alerts closed, and all of it across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.clock import VirtualClock
from wattguard.errors import ConfigError
from wattguard.events import EventKind, SecurityEvent
from wattguard.station.monitor import (
    DEFAULT_RULES,
    Rule,
    SecurityMonitor,
    subject_of,
    times_counted,
)
from wattguard.testing.storage import BACKENDS, PERSISTENT, Backend, Store

M1, M2 = "0000000000a1", "0000000000a2"
FORGED = Rule("forged", frozenset({EventKind.BAD_MAC}), threshold=3, window=60, quiet=100)


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = Backend(request.param, tmp_path)
    yield backend.open()
    backend.cleanup()


@pytest.fixture(params=PERSISTENT)
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = Backend(request.param, tmp_path)
    yield backend
    backend.cleanup()


def bad_mac(source: str, at: float = 0.0) -> SecurityEvent:
    return SecurityEvent(EventKind.BAD_MAC, source, "MAC check failed", at)


def test_subjects_are_meters_wherever_the_event_comes_from() -> None:
    assert subject_of(f"meter {M1.upper()} management/SPI") == f"meter {M1}"
    assert subject_of(f"station/ingest meter {M1}") == f"meter {M1}"
    assert subject_of("fep 1") == "fep 1"
    assert subject_of("meter 1") == "meter 1"  # not an address: the source is the subject


def test_n_failures_of_one_meter_within_the_window_open_one_alert(storage: Store) -> None:
    clock = VirtualClock(1000.0)
    opened: list[tuple[int, str, str]] = []
    monitor = SecurityMonitor(storage, (FORGED,), clock.time)
    monitor.on_alert.append(lambda alert, rule, subject: opened.append((alert, rule.name, subject)))
    sources = [f"meter {M1} management/SPI", f"station/ingest meter {M1}"]
    for step in (0, 10, 100, 110):  # 0 and 10 fall out of the window before 100 and 110
        clock.advance(step - (clock.time() - 1000.0))
        monitor.record(bad_mac(sources[step % 20 // 10], at=5.0))  # meters' own clocks lie
        monitor.record(bad_mac(f"meter {M2}", at=5.0))  # another meter, never with M1's count
    assert storage.alerts() == []
    clock.advance(5)
    monitor.record(bad_mac(sources[0]))
    (alert,) = storage.alerts(open_only=True)
    assert (alert.rule, alert.severity, alert.subject) == ("forged", "warning", f"meter {M1}")
    assert (alert.opened, alert.count, alert.last) == (1115.0, 1, 1115.0)
    assert opened == [(alert.id, "forged", f"meter {M1}")]
    assert storage.count_events() == 9
    assert {e.received for e in storage.events(meter=M1)} == {1000, 1010, 1100, 1110, 1115}


def test_a_flood_keeps_one_alert_open_and_quiet_closes_it(storage: Store) -> None:
    clock = VirtualClock(0.0)
    monitor = SecurityMonitor(storage, (FORGED,), clock.time)
    for _ in range(300):
        clock.advance(0.5)
        monitor.record(bad_mac(f"meter {M1}"))
    (alert,) = storage.alerts()
    assert (alert.count, alert.opened, alert.last) == (298, 1.5, 150.0)
    assert f"meter {M1}: bad MAC: MAC check failed" in alert.evidence
    monitor.tick(249.0)
    assert storage.alerts(open_only=True) == [alert]
    monitor.tick(250.0)
    assert storage.alerts(open_only=True) == [] and storage.alerts()[0].closed == 250.0
    for _ in range(3):  # a new incident is a new alert
        clock.advance(200)
        monitor.record(bad_mac(f"meter {M1}"))
    assert storage.alerts(open_only=True) == []  # 200 s apart: never 3 within 60 s
    for _ in range(3):
        monitor.record(bad_mac(f"meter {M1}"))
    assert [a.closed for a in storage.alerts()] == [None, 250.0]


def test_a_restarted_monitor_keeps_its_open_alerts(persistent: Backend) -> None:
    clock = VirtualClock(0.0)
    first = SecurityMonitor(persistent.open(), (FORGED,), clock.time)
    for _ in range(3):
        first.record(bad_mac(f"meter {M1}"))
    clock.advance(50)
    first.record(bad_mac(f"meter {M1}"))
    restarted = SecurityMonitor(persistent.open(), (FORGED,), clock.time)
    clock.advance(10)
    restarted.record(bad_mac(f"meter {M1}"))  # the same incident: no second alert
    (alert,) = restarted.storage.alerts()
    assert (alert.count, alert.last) == (3, 60.0)
    restarted.tick(159.0)
    assert restarted.storage.alerts(open_only=True) == [alert]
    restarted.tick(160.0)
    assert restarted.storage.alerts(open_only=True) == []


def test_without_a_clock_windows_use_the_events_own_times(storage: Store) -> None:
    monitor = SecurityMonitor(storage, (FORGED,))
    for at in (0.0, 10.0, 100.0, 110.0, 120.0):
        monitor.record(bad_mac("meter 1", at))
    (alert,) = storage.alerts()
    assert (alert.subject, alert.opened) == ("meter 1", 120.0)


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=[rule.name for rule in DEFAULT_RULES])
def test_every_default_rule_raises_its_alert(storage: Store, rule: Rule) -> None:
    clock = VirtualClock(0.0)
    monitor = SecurityMonitor(storage, DEFAULT_RULES, clock.time)
    (kind,) = rule.kinds
    for k in range(rule.threshold):
        assert storage.alerts() == [], k
        monitor.record(SecurityEvent(kind, "fep 7", "refused", 0.0))
        clock.advance(rule.window / (rule.threshold + 1))
    (alert,) = storage.alerts(open_only=True)
    assert (alert.rule, alert.severity, alert.subject) == (rule.name, rule.severity, "fep 7")


def test_rules_are_checked_when_the_monitor_starts(storage: Store) -> None:
    with pytest.raises(ConfigError, match="unique"):
        SecurityMonitor(storage, (FORGED, FORGED))
    with pytest.raises(ConfigError, match="threshold"):
        SecurityMonitor(storage, (Rule("never", frozenset({EventKind.TAMPER}), threshold=0),))
    with pytest.raises(ConfigError, match="kinds"):
        SecurityMonitor(storage, (Rule("nothing", frozenset()),))


def test_repeated_refusals_are_one_counted_event_per_key_and_window(storage: Store) -> None:
    clock = VirtualClock(1000.0)
    rule = Rule("guessing", frozenset({EventKind.AUTHENTICATION}), threshold=5, window=600)
    monitor = SecurityMonitor(storage, (rule,), clock=clock.time)

    def refuse(host: str) -> int:
        event = SecurityEvent(EventKind.AUTHENTICATION, "api", f"{host}: GET /x", clock.time())
        return monitor.record_repeated(event, host, window=60)

    counts = []
    for _ in range(100):
        counts.append(refuse("10.0.0.1"))
        clock.advance(0.5)
    refuse("10.0.0.2")
    stored = storage.events()
    assert counts == list(range(1, 101)) and len(stored) == 2
    first = next(e for e in stored if "10.0.0.1" in e.detail)
    assert first.time == 1000.0 and first.received == 1049.5  # first seen, last received
    assert first.detail == (
        "100 times in 50 s (first 1000.000, last 1049.500); latest: 10.0.0.1: GET /x"
    )
    assert times_counted(first.detail) == 100
    assert [e.detail for e in stored if "10.0.0.2" in e.detail] == ["10.0.0.2: GET /x"]
    alerts = storage.alerts()  # every refusal still counts for the rules: one alert, 101 matches
    assert [(a.rule, a.count) for a in alerts] == [("guessing", 101 - 5 + 1)]
    clock.advance(60)  # a new window: a new event
    assert refuse("10.0.0.1") == 1 and len(storage.events()) == 3


def test_granted_access_is_kept_but_opens_no_alert(storage: Store) -> None:
    """A concentrator pairing with a district's meters is ACCESS, one event per meter: stored
    for the audit, and no rule (the authentication-failure one included) counts it."""
    clock = VirtualClock(1000.0)
    monitor = SecurityMonitor(storage, DEFAULT_RULES, clock.time)
    for k in range(20):
        detail = "success: #9 concentrator paired by certificate as CONCENTRATOR"
        monitor.record(SecurityEvent(EventKind.ACCESS, f"meter {k:012d} bluetooth", detail, 1.0))
    assert storage.count_events() == 20 and storage.alerts() == []
    for _ in range(5):  # the same number of failures does open one
        monitor.record(SecurityEvent(EventKind.AUTHENTICATION, f"meter {M1} bluetooth", "x", 1.0))
    assert [a.rule for a in storage.alerts()] == ["authentication failures"]
