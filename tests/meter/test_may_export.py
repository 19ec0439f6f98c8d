"""Per-meter "may export" (vendor object FF11, docs/protocol.md): reverse energy on a meter
whose customer may not export is a power reversal (3007) and a tamper event; a PV customer's
meter the station allowed to export registers the reverse energy without either. The
parameter is set like the others: under the F101 policy, refused in plaintext on a protected
meter, and kept across a power loss."""

from __future__ import annotations

from pathlib import Path

from wattguard.events import EventKind
from wattguard.meter.device import MeterConfig
from wattguard.meter.links.uart import Alarm
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.parameters import MAY_EXPORT
from wattguard.meter.management.storage import NonVolatileStore
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter, running_meter

UNPROTECTED = MeterConfig(protected=False)  # the F101 policy: the last test
NOW = T0 + 3600
EXPORT = Measurement(231.0, 6.0, -1300.0, 100.0)  # the PV panels at midday


def export_for(meter_minutes: int, meter: object) -> None:
    for minute in range(meter_minutes):
        meter.measure(EXPORT, 60.0, NOW + 60 * minute)  # type: ignore[attr-defined]


def test_reverse_energy_on_a_meter_that_may_not_export_is_a_tamper_event() -> None:
    meter = running_meter(config=UNPROTECTED)
    assert Line(meter).get(OAD(MAY_EXPORT, 2), NOW) == Data(DataType.BOOL, False)
    export_for(3, meter)
    [reversal] = meter.log.of_kind(MeterEventKind.POWER_REVERSAL)
    assert reversal.detail == "-1300.0 W"
    tampers = [e for e in meter.log.security if e.kind == EventKind.TAMPER]
    assert len(tampers) == 1 and "may not export" in tampers[0].detail
    assert any(alarm == Alarm.REVERSE_ENERGY for _, alarm, _ in meter.expansion.alarms)
    assert meter.management.registers.reverse_active[0] > 0  # registered all the same


def test_a_meter_that_may_export_registers_reverse_energy_without_an_alarm() -> None:
    meter = running_meter(config=UNPROTECTED)
    assert Line(meter).set(OAD(MAY_EXPORT, 2), Data(DataType.BOOL, True), NOW) == DAR.SUCCESS
    export_for(10, meter)
    assert not meter.log.of_kind(MeterEventKind.POWER_REVERSAL)
    assert not meter.log.security
    assert not meter.expansion.alarms  # the expansion module was told too
    reverse = meter.management.registers.reverse_active[0] / 3600
    assert abs(reverse - 1300.0 * 10 / 60) < 1.0  # Wh: 10 minutes at 1.3 kW


def test_may_export_is_kept_across_a_power_loss(tmp_path: Path) -> None:
    store = NonVolatileStore(tmp_path / "meter.store")
    meter = running_meter(config=UNPROTECTED, store=store)
    assert Line(meter).set(OAD(MAY_EXPORT, 2), Data(DataType.BOOL, True), NOW) == DAR.SUCCESS
    store.close()  # the power is gone
    reborn = new_meter(config=UNPROTECTED, store=NonVolatileStore(tmp_path / "meter.store"))
    reborn.power_up(NOW + 60)
    assert reborn.management.parameters.may_export
    assert reborn.expansion.monitor.generation_allowed  # told again at power-up
    export_for(3, reborn)
    assert not reborn.log.of_kind(MeterEventKind.POWER_REVERSAL)


def test_a_plaintext_set_of_may_export_is_refused_on_a_protected_meter() -> None:
    meter = running_meter()
    dar = Line(meter).set(OAD(MAY_EXPORT, 2), Data(DataType.BOOL, True), NOW)
    assert dar != DAR.SUCCESS
    assert not meter.management.parameters.may_export
    export_for(3, meter)
    assert meter.log.of_kind(MeterEventKind.POWER_REVERSAL)


def test_a_meter_commissioned_for_a_pv_customer_may_export_from_the_start() -> None:
    meter = running_meter(config=MeterConfig(protected=False, may_export=True))
    assert Line(meter).get(OAD(MAY_EXPORT, 2), NOW) == Data(DataType.BOOL, True)
    export_for(3, meter)
    assert not meter.log.of_kind(MeterEventKind.POWER_REVERSAL)
    assert not meter.expansion.alarms
