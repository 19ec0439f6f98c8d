"""Power-quality events reach the station end to end: a running deployment's meter over its
overload limit and another exporting without being allowed to report 3008 / 3007, which the
station stores as operational events with their own alerts; the reversal is also a TAMPER
security event. A meter commissioned for a PV customer exports without either."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from wattguard.events import EventKind
from wattguard.meter.management.parameters import MAY_EXPORT
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START

VIEWER = {"Authorization": "Bearer viewer-token"}


def test_overload_and_a_forbidden_export_reach_the_station() -> None:
    config = DeploymentConfig(meters=3, per_terminal=3, start=START)
    deployment = Deployment(config, virtual_clock(config))
    net = deployment.nets[0]
    honest = net.fleet.load
    heavy, exporter, pv = net.fleet.meters[:3]
    allow = SetRequestNormal(1, OAD(MAY_EXPORT, 2), Data(DataType.BOOL, True))
    pv.management.serve_local(allow.to_bytes(), deployment.clock.time())  # a 698 SET of FF11
    assert pv.management.parameters.may_export

    def load(now: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        p, q = honest(now, seconds)
        p, q = p.copy(), q.copy()
        p[0] = 14_500.0  # over the factory 13.2 kW overload limit
        p[1] = p[2] = -2_500.0  # 2.5 kW exported
        q[1] = q[2] = 0.0
        return p, q

    net.fleet.load = load
    deployment.run_virtual(1800)
    api = TestClient(create_app(deployment.station, deployment.users))
    rows = api.get("/api/operational-events", headers=VIEWER).json()
    kinds = {(r["meter"], r["kind"]) for r in rows}
    assert (heavy.address.hex(), "overload") in kinds
    assert (exporter.address.hex(), "power_reversal") in kinds
    assert not [r for r in rows if r["meter"] == pv.address.hex() and r["kind"] == "power_reversal"]
    rules = {a["rule"] for a in api.get("/api/alerts?open=true", headers=VIEWER).json()}
    assert {"operational: overload", "operational: power reversal"} <= rules
    tampers = deployment.storage.events(kind=EventKind.TAMPER, limit=1000)
    assert [
        e for e in tampers if "may not export" in e.detail and exporter.address.hex() in e.source
    ]
    assert not [e for e in tampers if pv.address.hex() in e.source.lower()]


def test_an_event_that_ends_is_one_row_with_its_end() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=START)
    deployment = Deployment(config, virtual_clock(config))
    net = deployment.nets[0]
    honest = net.fleet.load
    overloaded = True

    def load(now: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        p, q = honest(now, seconds)
        if overloaded:
            p = p.copy()
            p[0] = 14_500.0
        return p, q

    net.fleet.load = load
    deployment.run_virtual(1800)
    overloaded = False
    deployment.run_virtual(1800)
    heavy = net.fleet.meters[0].address.hex()
    api = TestClient(create_app(deployment.station, deployment.users))
    rows = api.get(f"/api/operational-events?meter={heavy}&kind=overload", headers=VIEWER).json()
    assert len(rows) == 1, rows  # its start and its end reported, stored once
    (row,) = rows
    assert row["number"] is not None
    assert row["ended"] is not None and row["ended"] > row["time"] - 1800
    # the ending report did not count as a second occurrence against the rule
    alerts = [a for a in api.get("/api/alerts", headers=VIEWER).json()
              if a["rule"] == "operational: overload"]  # fmt: skip
    assert len(alerts) == 1 and alerts[0]["count"] == 1, alerts
