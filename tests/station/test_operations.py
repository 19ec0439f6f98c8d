"""Operational events reach the station: a meter's over-current, voltage and expansion-module
alarms are stored beside the security events (not in them), raise their own alerts, and are
read at ``/api/operational-events``; on every storage backend."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.operations import OperationsMonitor, operational_kind
from wattguard.station.records import InvalidRecord, OperationalEvent, OperationalKind
from wattguard.testing import MIDNIGHT as START
from wattguard.testing.storage import Backend

VIEWER = {"Authorization": "Bearer viewer-token"}
M1 = "000001000001"


def test_operational_events_are_stored_apart_and_alert_by_their_rules(backend: Backend) -> None:
    storage = backend.open()
    now = [1000.0]
    monitor = OperationsMonitor(storage, lambda: now[0])
    over = OperationalEvent(990.0, OperationalKind.OVER_CURRENT, M1.upper(), "over current: 80000")
    monitor.record(over)
    now[0] = 1060.0
    monitor.record(OperationalEvent(1050.0, OperationalKind.CREDIT_LOW, M1, "credit low: 250"))
    monitor.record(over)
    rows = storage.operational_events()
    assert [r.kind for r in rows] == [
        OperationalKind.OVER_CURRENT,
        OperationalKind.CREDIT_LOW,
        OperationalKind.OVER_CURRENT,
    ]
    assert rows[-1].meter == M1 and rows[-1].received == 1000.0 and rows[-1].id
    assert storage.operational_events(kind=OperationalKind.CREDIT_LOW, meter=M1)[0].detail == (
        "credit low: 250"
    )
    assert storage.operational_events(since=1000.0, until=1055.0)[0].time == 1050.0
    assert storage.count_events() == 0  # nothing in the security events
    alerts = {a.rule: a for a in storage.alerts(open_only=True)}
    assert set(alerts) == {"operational: over current", "operational: credit low"}
    assert alerts["operational: over current"].count == 2  # bumped, not a second alert
    now[0] = 1060.0 + 3600
    monitor.tick()
    assert {a.rule for a in storage.alerts(open_only=True)} == {"operational: credit low"}
    with pytest.raises(InvalidRecord):
        storage.add_operational_event("over current")  # type: ignore[arg-type]


def test_reported_objects_map_to_operational_kinds() -> None:
    assert operational_kind(0x3005, "") == OperationalKind.OVER_CURRENT
    assert operational_kind(0x3001, "150.0 V") == OperationalKind.UNDER_VOLTAGE
    assert operational_kind(0xFF24, "pile over limit: 11000") == OperationalKind.PILE_OVER_LIMIT
    assert operational_kind(0xFF24, "bypass suspected: 8000") == OperationalKind.EXPANSION_ALARM
    assert operational_kind(0x301B, "") is None  # the cover: a security event, not this


def test_a_meters_over_current_and_pile_alarm_reach_the_station_and_its_api() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=START)
    deployment = Deployment(config, virtual_clock(config))
    net = deployment.nets[0]
    honest = net.fleet.load

    def heavy(now: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        p, q = honest(now, seconds)
        p = p.copy()
        p[0] = 18_000.0  # 78 A on a 60 A meter
        return p, q

    net.fleet.load = heavy
    deployment.run_virtual(1800)
    first = net.fleet.meters[0]
    first.expansion.pile.limit = 7000
    first.pile_drawn(11_000.0, deployment.clock.time())
    deployment.run_virtual(1800)
    api = TestClient(create_app(deployment.station, deployment.users))
    rows = api.get("/api/operational-events", headers=VIEWER).json()
    kinds = {(r["meter"], r["kind"]) for r in rows}
    address = first.address.hex()
    assert (address, "over_current") in kinds and (address, "pile_over_limit") in kinds
    assert all(r["meter"] == address for r in rows)  # the other meter is quiet
    only = api.get(f"/api/operational-events?kind=pile_over_limit&meter={address}", headers=VIEWER)
    assert [r["detail"] for r in only.json()] == ["pile over limit: 11000"]
    assert api.get("/api/operational-events?kind=nonsense", headers=VIEWER).status_code == 400
    assert api.get("/api/operational-events").status_code == 401
    rules = {a["rule"] for a in api.get("/api/alerts?open=true", headers=VIEWER).json()}
    assert {"operational: over current", "operational: pile over limit"} <= rules
    security = deployment.storage.events(limit=10_000)
    assert not [e for e in security if "over current" in e.detail or "pile" in e.detail]
