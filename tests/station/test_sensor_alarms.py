"""A Bluetooth sensor's alarm reaches the station: the meter's water-leak entry (vendor event
object FF25) travels with the meter's active reports through the terminal and the FEP, and is
stored as an operational event with its own alert rule, not as a security event."""

from __future__ import annotations

from fastapi.testclient import TestClient

from wattguard.meter.bluetooth.sensors import WATER_LEAK, Sensors
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.operations import operational_kind
from wattguard.station.records import OperationalKind
from wattguard.testing import MIDNIGHT as START

VIEWER = {"Authorization": "Bearer viewer-token"}


def test_objects_ff25_map_to_a_water_leak_or_a_sensor_alarm() -> None:
    assert operational_kind(0xFF25, "water leak: 1") == OperationalKind.WATER_LEAK
    assert operational_kind(0xFF25, "smoke: 1") == OperationalKind.SENSOR_ALARM


def test_a_leak_reaches_the_station_as_an_operational_event_and_alert() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    meter = deployment.nets[0].fleet.meters[0]
    # What the meter's Bluetooth service hands on once a paired leak sensor reports (the
    # pairing and the role are tests/meter/test_bluetooth_peers.py's)
    sensors = Sensors(meter.log, meter.management.store, "management/BLE")
    now = deployment.clock.time()
    report = SetRequestNormal(1, OAD(WATER_LEAK, 2, 0), Data(DataType.ENUM, 1)).to_bytes()
    sensors.report(report, now, meter.management.calendar())
    deployment.run_virtual(1800)
    api = TestClient(create_app(deployment.station, deployment.users))
    address = meter.address.hex()
    rows = api.get(f"/api/operational-events?meter={address}", headers=VIEWER).json()
    assert [(r["kind"], r["detail"]) for r in rows if r["kind"] == "water_leak"] == [
        ("water_leak", "water leak: 1")
    ]
    rules = {a["rule"] for a in api.get("/api/alerts?open=true", headers=VIEWER).json()}
    assert "operational: water leak" in rules
    security = deployment.storage.events(limit=10_000)
    assert not [e for e in security if "leak" in e.detail]
