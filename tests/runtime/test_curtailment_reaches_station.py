"""The meter's load distribution while its terminal cannot reach the station: the meter
curtails on its own, and once the link is back the station receives each curtailment as a
``load curtailed`` operational event (through the terminal's store-and-forward)."""

from __future__ import annotations

from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.records import OperationalKind
from wattguard.testing import MIDNIGHT as START


def test_curtailments_made_with_the_station_away_reach_it_afterwards() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    net = deployment.nets[0]
    terminal = net.terminal.address
    deployment.disconnect(terminal)  # the station is away from here on
    meter = net.fleet.meters[0]
    expansion = meter.expansion
    expansion.distributor.contracted_w = 3000.0
    expansion.add_port("heater")
    expansion.port_request("heater", 2500.0)
    expansion.pile.requested = 7000.0
    deployment.run_virtual(1800)
    logged = meter.log.of_kind(MeterEventKind.LOCAL_ALARM)
    curtailed = [e for e in logged if "curtailed" in e.detail]
    assert curtailed and expansion.granted("pile") < 3000.0  # the meter acted alone
    kind = OperationalKind.LOAD_CURTAILED
    assert not deployment.storage.operational_events(kind=kind)
    deployment.reconnect(terminal)
    deployment.run_virtual(1800)
    rows = deployment.storage.operational_events(kind=kind)
    assert rows and {r.meter for r in rows} == {meter.address.hex()}
    assert {e.detail for e in curtailed} <= {r.detail for r in rows}  # every one made away
