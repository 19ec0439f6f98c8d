"""The meter's physics: an open relay cuts the load (no current, no energy) until the supply
is restored, and a supply voltage below the critical voltage is a power-down."""

from __future__ import annotations

from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.expansion import CostControl
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line, running_meter

UNPROTECTED = MeterConfig(protected=False)
HOUR = 3600.0


def _relay(*items: Data) -> Data:
    return Data.array(Data.structure(Data(DataType.OAD, OAD(0xF205, 2, 1)), *items))


TRIP = _relay(
    Data(DataType.UNSIGNED, 0),
    Data(DataType.LONG_UNSIGNED, 0),
    Data(DataType.BOOL, False),
)
CLOSE_ALLOWED = _relay(Data(DataType.ENUM, 0))
DIRECT_CLOSE = _relay(Data(DataType.ENUM, 1))


def forward(meter: Meter) -> float:
    """Forward active energy, watt-seconds, as the management module holds it."""
    return meter.management.registers.forward_active[0]


def run(meter: Meter, start: float, minutes: int, load: Measurement = HOUSE) -> float:
    now = start
    for _ in range(minutes):
        now += 60
        meter.measure(load, 60.0, now)
        meter.handle_timer(now)
    return now


def test_a_remote_trip_stops_the_energy_and_a_direct_close_restores_it() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    now = run(meter, T0 + HOUR, 1)
    assert line.action(OMD(0x8000, 129), TRIP, now) == DAR.SUCCESS
    assert meter.management.relay.state == RelayState.TRIPPED
    before = forward(meter)
    now = run(meter, now, 60)
    assert forward(meter) == before  # an hour tripped: not one watt-second more
    assert line.get(OAD(0x2001, 2), now).value[0] == Data(DataType.DOUBLE_LONG, 0)  # no current
    assert line.get(OAD(0x2000, 2), now).value[0] == Data(DataType.LONG_UNSIGNED, 2295)
    assert line.action(OMD(0x8000, 130), DIRECT_CLOSE, now) == DAR.SUCCESS
    now = run(meter, now, 60)
    assert forward(meter) - before == HOUSE.active_power * HOUR


def test_after_close_allowed_only_the_customers_button_restores_the_supply() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    assert line.action(OMD(0x8000, 129), TRIP, T0 + HOUR) == DAR.SUCCESS
    assert line.action(OMD(0x8000, 130), CLOSE_ALLOWED, T0 + HOUR) == DAR.SUCCESS
    assert meter.management.relay.state == RelayState.CLOSE_ALLOWED
    before = forward(meter)
    now = run(meter, T0 + HOUR, 30)
    assert forward(meter) == before  # close allowed is not yet closed
    meter.press_button(now)
    assert meter.management.relay.state == RelayState.CLOSED
    closes = meter.log.of_kind(MeterEventKind.RELAY_CLOSE)
    assert closes and "button" in closes[-1].detail
    run(meter, now, 30)
    assert forward(meter) - before == HOUSE.active_power * 30 * 60


def test_a_delayed_trip_supplies_the_load_until_the_delay_is_over() -> None:
    meter = running_meter(config=UNPROTECTED)
    meter.management.trip(T0 + HOUR, delay=600.0)
    before = forward(meter)
    now = run(meter, T0 + HOUR, 10)  # the alarm sounds, the load is still supplied
    assert forward(meter) - before == HOUSE.active_power * 600
    assert meter.management.relay.state == RelayState.TRIPPED
    before = forward(meter)
    run(meter, now, 10)
    assert forward(meter) == before


def test_a_prepayment_trip_at_zero_credit_stops_the_energy() -> None:
    meter, wallet = fitted_meter(cost=CostControl())
    assert wallet is not None and wallet.balance() == 0
    assert meter.management.relay.state == RelayState.TRIPPED
    assert "credit exhausted" in meter.log.of_kind(MeterEventKind.RELAY_TRIP)[-1].detail
    before = forward(meter)
    run(meter, T0 + HOUR, 120)
    assert forward(meter) == before


def test_a_supply_below_the_critical_voltage_is_a_power_down() -> None:
    meter = running_meter(config=UNPROTECTED)
    before = forward(meter)
    sag = Measurement(voltage=100.0, current=2.0, active_power=200.0, reactive_power=0.0)
    now = run(meter, T0 + HOUR, 30, sag)  # 100 V of 220 V: below 60 %
    assert not meter.powered
    downs = meter.log.of_kind(MeterEventKind.POWER_DOWN)
    assert len(downs) == 1 and downs[0].start == T0 + HOUR + 60
    assert meter.management.power.outages[-1].end is None
    assert forward(meter) == before
    now = run(meter, now, 1)  # the supply is back
    assert meter.powered
    outage = meter.management.power.outages[-1]
    assert outage.end is not None and outage.end - outage.start == 30 * 60
    assert meter.management.power.count == 1
    assert forward(meter) - before == HOUSE.active_power * 60


def test_a_declared_outage_is_not_ended_by_a_measured_voltage() -> None:
    meter = running_meter(config=UNPROTECTED)
    meter.mains_lost(T0 + HOUR)
    run(meter, T0 + HOUR, 5)
    assert not meter.powered  # only mains_restored ends it


def test_an_under_voltage_above_the_critical_voltage_keeps_the_meter_running() -> None:
    meter = running_meter(config=UNPROTECTED)
    run(meter, T0 + HOUR, 3, Measurement(150.0, 5.0, 750.0, 0.0))  # 68 %
    assert meter.powered
    assert meter.log.of_kind(MeterEventKind.UNDER_VOLTAGE)
    assert not meter.log.of_kind(MeterEventKind.POWER_DOWN)


def test_a_top_up_after_a_credit_trip_allows_the_customer_to_close() -> None:
    meter, wallet = fitted_meter(cost=CostControl(alarm_levels=(0, 0)))
    assert wallet is not None and meter.management.relay.state == RelayState.TRIPPED
    station = rig().station
    station.register(ADDRESS, key_version=1)
    amount, protected = (item.value for item in station.top_up(ADDRESS, 500).value)
    wallet.top_up(amount, protected.sid, protected.mac, T0 + HOUR)
    now = run(meter, T0 + HOUR, 1)
    assert meter.management.relay.state == RelayState.CLOSE_ALLOWED
    before = forward(meter)
    now = run(meter, now, 5)
    assert forward(meter) == before  # not until the customer presses the button
    meter.press_button(now)
    run(meter, now, 5)
    assert forward(meter) > before


def test_a_top_up_does_not_undo_the_stations_own_trip() -> None:
    meter, wallet = fitted_meter(cost=CostControl())
    assert wallet is not None
    meter.management.trip(T0 + HOUR, reason="remote command")
    station = rig().station
    station.register(ADDRESS, key_version=1)
    amount, protected = (item.value for item in station.top_up(ADDRESS, 500).value)
    wallet.top_up(amount, protected.sid, protected.mac, T0 + HOUR)
    run(meter, T0 + HOUR, 3)
    assert meter.management.relay.state == RelayState.TRIPPED
