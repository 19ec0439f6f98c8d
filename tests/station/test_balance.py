"""The energy balance of a district: quiet within the technical losses, a tamper event when
energy leaves the network around the customers' meters; and the district simulation that
feeds it (a total meter at the transformer, a bypass around one meter)."""

from __future__ import annotations

import pytest

from wattguard.attacks.scenarios.bypass import with_total_meter
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.deployed import fresh_deployment
from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.simulation.profile import LoadClass, LoadModel
from wattguard.station.balance import CURVE_ENERGY, EnergyBalance
from wattguard.station.ingest import Reading

TOTAL, A, B = "000000000000", "000001000001", "000001000002"
HOUR = 3600


def curve(meter: str, time: int, kwh: float) -> Reading:
    return Reading(meter, CURVE_ENERGY, time, kwh)


def feed(balance: EnergyBalance, hours: int, total: float, a: float, b: float) -> None:
    """``hours`` hours of quarter-hour values: per hour, ``total`` kWh through the transformer,
    ``a`` and ``b`` kWh on the customers' meters."""
    for quarter in range(hours * 4 + 1):
        t, k = quarter * 900, quarter / 4
        balance.on_readings([curve(TOTAL, t, total * k), curve(A, t, a * k), curve(B, t, b * k)])


def test_a_district_within_its_losses_is_quiet() -> None:
    events = EventLog()
    balance = EnergyBalance(events)
    balance.add_district("990000000001", TOTAL, [A, B, TOTAL])
    feed(balance, 3, total=10.0, a=6.0, b=3.7)
    periods = [(b.start, b.end) for b in balance.results]
    assert periods == [(h * HOUR, (h + 1) * HOUR) for h in range(3)]
    assert balance.results[0].share == pytest.approx(0.03)
    assert not events.events


def test_energy_around_the_meters_is_a_tamper_event_of_the_district() -> None:
    events = EventLog()
    balance = EnergyBalance(events)
    balance.add_district("990000000001", TOTAL, [A, B])
    feed(balance, 2, total=10.0, a=6.0, b=1.0)
    assert len(events.events) == 2
    event = events.events[0]
    assert event.kind == EventKind.TAMPER and event.source == "station/balance 990000000001"
    assert "3.00 kWh (30%) unaccounted" in event.detail
    # a small absolute loss at night is below the floor, whatever its share
    quiet = EventLog()
    night = EnergyBalance(quiet)
    night.add_district("990000000001", TOTAL, [A, B])
    feed(night, 2, total=0.3, a=0.1, b=0.1)
    assert night.results and not quiet.events


def test_a_period_waits_for_every_meter_and_memory_stays_bounded() -> None:
    balance = EnergyBalance(EventLog())
    balance.add_district("990000000001", TOTAL, [A, B])
    balance.on_readings([curve(TOTAL, 0, 0.0), curve(A, 0, 0.0), curve(B, 0, 0.0)])
    balance.on_readings([curve(TOTAL, HOUR, 10.0), curve(A, HOUR, 6.0)])
    assert not balance.results  # B's value at the end of the hour has not come yet
    balance.on_readings([curve(B, HOUR, 3.7), Reading(B, "00100201", HOUR, 99.0)])
    assert len(balance.results) == 1 and balance.results[0].billed == pytest.approx(9.7)
    feed(balance, 48, total=10.0, a=6.0, b=3.7)
    assert balance._energy and all(len(values) <= 4 * 5 + 1 for values in balance._energy.values())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="multiple of 15 minutes"):
        EnergyBalance(period=1000)
    with pytest.raises(ConfigError, match="tolerance"):
        EnergyBalance(tolerance=1.5)
    with pytest.raises(ConfigError, match="customer"):
        EnergyBalance().add_district("990000000001", TOTAL, [TOTAL])


def test_the_total_meter_sees_what_the_customers_draw_and_a_bypass_shows() -> None:
    deployment = fresh_deployment(True, meters=3, per_terminal=3, warm_up=0, start=T0 + 17 * HOUR)
    net = deployment.nets[0]
    net.fleet.load = LoadModel.mixed(3, seed=1, mix={LoadClass.HOUSEHOLD: 1.0}).load
    district = with_total_meter(deployment)
    balance = deployment.station.balance  # on by default at the station
    assert balance is not None
    deployment.run_virtual(3 * HOUR)
    billed = sum(m.management.registers.forward_active[0] for m in district.customers) / 3.6e6
    # the district loses its share of the supply on average over its first day (the I^2 R
    # loss is calibrated over it), each hour more or less with the load
    assert district.supplied_kwh == pytest.approx(billed / (1 - district.losses), rel=0.01)
    assert district.supplied_kwh > billed
    assert balance.results and all(-0.02 < b.share < 0.08 for b in balance.results)
    assert deployment.hsm is not None and deployment.storage.count_readings_of(CURVE_ENERGY)
    with pytest.raises(ConfigError):
        district.bypass(bytes(6), 0.5)  # the total meter is no customer
    with pytest.raises(ConfigError):
        district.bypass(district.customers[0].address, 1.5)


def test_the_station_runs_the_balance_by_default_once_a_district_has_a_total_meter() -> None:
    deployment = fresh_deployment(True, meters=3, per_terminal=3, warm_up=0, start=T0 + 17 * HOUR)
    balance = deployment.station.balance
    assert balance is not None  # nobody wired it: the station runs it
    deployment.run_virtual(2 * HOUR)
    assert not balance.results  # no total meter yet: nothing to compare
    district = with_total_meter(deployment)
    deployment.run_virtual(3 * HOUR)
    assert balance.results and {b.terminal for b in balance.results} == {
        deployment.nets[0].terminal.address.hex()
    }
    # two of three households bypassed: at night one household's hour (0.2 kWh) sits at the
    # balance's floor, and the network's I^2 R loss, small at night, no longer lifts it over
    for customer in district.customers[:2]:
        district.bypass(customer.address, 1.0)
    deployment.run_virtual(3 * HOUR)
    tamper = [e for e in deployment.storage.events(kind=EventKind.TAMPER) if "balance" in e.source]
    assert tamper  # stored and alerted on like any security event
