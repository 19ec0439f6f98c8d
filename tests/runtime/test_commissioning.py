"""How a deployment commissions its meters: rooftop-PV customers allowed to export (FF11), so
their noon export is no power-reversal event; a district's supply meter with a transformer's
over-current and overload limits, so a busy evening on the whole district raises neither."""

from __future__ import annotations

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.simulation.profile import LoadClass, LoadModel
from wattguard.station.records import OperationalKind
from wattguard.testing import MIDNIGHT


def test_pv_customers_export_at_noon_without_a_reversal_event() -> None:
    config = DeploymentConfig(meters=12, per_terminal=12, start=MIDNIGHT + 10 * 3600, seed=5)
    deployment = Deployment(config, virtual_clock(config))
    net = deployment.nets[0]
    classes = LoadModel.mixed(12, seed=config.simulation_seed * 1000 + 1).classes  # the same
    pv = [m for m, kind in zip(net.meters.values(), classes, strict=True) if kind == LoadClass.PV]
    assert pv, "the mixed load model gives this neighbourhood PV customers"
    assert [m.management.parameters.may_export for m in net.meters.values()] == [
        kind == LoadClass.PV for kind in classes
    ]
    deployment.run_virtual(3 * 3600)  # 10:00 to 13:00
    exported = [m for m in pv if m.metering.registers.reverse_active[0] > 0]
    assert exported, "a PV customer fed energy back at noon"
    reversals = deployment.storage.operational_events(kind=OperationalKind.POWER_REVERSAL)
    assert [e for e in reversals if e.meter in {m.address.hex() for m in pv}] == []


def test_a_supply_meter_carries_a_busy_district_without_overload_alarms() -> None:
    config = DeploymentConfig(meters=25, per_terminal=25, start=MIDNIGHT + 18 * 3600, seed=2,
                              districts=True)  # fmt: skip
    deployment = Deployment(config, virtual_clock(config))
    (supply,) = deployment.supply_meters
    deployment.run_virtual(3 * 3600)  # the evening peak
    stored = deployment.storage.readings(supply, "00100201")
    assert stored and stored[-1].value - stored[0].value > 20, "the district drew its evening"
    alarms = deployment.storage.operational_events(meter=supply)
    assert [e for e in alarms if e.kind in (OperationalKind.OVER_CURRENT,
                                            OperationalKind.OVERLOAD)] == []  # fmt: skip
