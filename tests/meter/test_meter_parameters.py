"""The parameters a station sets on a meter, each written and read back over DL/T 698.45 and
each one changing what the meter does: the time-of-use table takes over at its switch-over
time and the energy goes to its tariff, event thresholds move the events, the display shows
the list, the expansion module hears the over-current limit; a wrong shape or range changes
nothing and says why (DAR)."""

from __future__ import annotations

from pathlib import Path

from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion.cost_control import CostControl
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.storage import NonVolatileStore
from wattguard.protocol import OAD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line, new_meter, running_meter

_D = DataType
UNPROTECTED = MeterConfig(protected=False)  # the security policy is tested elsewhere


def period(hour: int, minute: int, tariff: int) -> Data:
    return Data.structure(*(Data(_D.UNSIGNED, v) for v in (hour, minute, tariff)))


def table(*periods: Data) -> Data:
    return Data.array(Data.array(*periods))


def test_a_day_table_takes_over_at_its_switch_time_and_the_energy_follows_it() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    now = T0 + 3600
    switch = now + 600
    assert line.set(OAD(0x4017, 2), table(period(0, 0, 3)), now) == DAR.SUCCESS
    assert line.set(OAD(0x4009, 2), Data(_D.DATE_TIME_S, DateTimeS.from_posix(switch)), now) == 0
    assert line.get(OAD(0x4016, 2), now) == Data.array()  # not yet
    assert line.get(OAD(0x4017, 2), now) == table(period(0, 0, 3))
    before = list(meter.management.registers.register(0x0010))
    for minute in range(30):
        meter.measure(HOUSE, 60.0, now + 60 * (minute + 1))
    after = meter.management.registers.register(0x0010)
    assert line.get(OAD(0x4016, 2), now + 1900) == table(period(0, 0, 3))
    assert line.get(OAD(0x4009, 2), now + 1900) == Data(_D.NULL)  # done
    assert after[3] - before[3] > 0  # valley since the switch
    tariff_1_share = (after[1] - before[1]) / (after[0] - before[0])
    assert 0.2 < tariff_1_share < 0.5  # the first ten minutes of thirty, under the old rule


def test_a_day_table_of_the_wrong_shape_or_range_changes_nothing() -> None:
    line = Line(running_meter(config=UNPROTECTED))
    now = T0 + 3600
    assert line.set(OAD(0x4017, 2), table(period(0, 0, 5)), now) == DAR.TARIFFS_EXCEEDED
    assert line.set(OAD(0x4017, 2), table(period(8, 0, 1), period(7, 0, 2)), now) == 8
    assert line.set(OAD(0x4017, 2), table(period(24, 0, 1)), now) == DAR.OUT_OF_RANGE
    assert line.set(OAD(0x4017, 2), Data(_D.UNSIGNED, 1), now) == DAR.TYPE_MISMATCH
    assert line.set(OAD(0x4016, 2), table(period(0, 0, 1)), now) == DAR.READ_WRITE_DENIED
    assert line.get(OAD(0x4017, 2), now) == Data.array()


def test_an_over_voltage_threshold_moves_the_event() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    now = T0 + 3600
    log = meter.management.log
    assert not log.of_kind(MeterEventKind.OVER_VOLTAGE)  # 229.5 V is under the factory 253 V
    limit = Data.structure(Data(_D.LONG_UNSIGNED, 2250), Data(_D.UNSIGNED, 30))
    assert line.set(OAD(0x3002, 5), limit, now) == DAR.SUCCESS
    assert line.get(OAD(0x3002, 5), now) == limit
    meter.measure(HOUSE, 60.0, now + 60)
    assert [e.detail for e in log.of_kind(MeterEventKind.OVER_VOLTAGE)] == ["229.5 V"]


def test_the_over_current_limit_reaches_the_expansion_module() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    now = T0 + 3600
    assert not meter.management.log.of_kind(MeterEventKind.OVER_CURRENT)  # 8.7 A < 60 A
    limit = Data.structure(Data(_D.DOUBLE_LONG, 50_000), Data(_D.UNSIGNED, 0))  # 5 A
    assert line.set(OAD(0x3005, 5), limit, now) == DAR.SUCCESS
    for minute in range(3):
        meter.measure(HOUSE, 60.0, now + 60 * (minute + 1))
    assert meter.expansion.monitor.max_current == 5.0
    assert meter.management.log.of_kind(MeterEventKind.OVER_CURRENT)


def test_the_display_rotates_through_the_list_set() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    screens = Data.array(
        Data.structure(Data(_D.OAD, OAD(0x2000, 2)), Data(_D.UNSIGNED, 1)),
        Data.structure(Data(_D.OAD, OAD(0x0010, 2)), Data(_D.UNSIGNED, 2)),
    )
    assert line.set(OAD(0xF300, 2), screens, T0 + 3600) == DAR.SUCCESS
    assert line.get(OAD(0xF300, 2), T0 + 3600) == screens
    display = meter.management.display
    assert display.render(0.0) == "voltage: 229.5 V"
    assert display.render(display.dwell).startswith("forward active energy: 1.90 kWh")


def test_the_demand_period_is_one_a_meter_can_hold() -> None:
    line = Line(running_meter(config=UNPROTECTED))
    assert line.set(OAD(0x4100, 2), Data(_D.UNSIGNED, 7), T0 + 3600) == DAR.OUT_OF_RANGE
    assert line.get(OAD(0x4100, 2), T0 + 3600) == Data(_D.UNSIGNED, 15)
    assert line.set(OAD(0x4100, 2), Data(_D.UNSIGNED, 30), T0 + 3600) == DAR.SUCCESS
    assert line.get(OAD(0x4100, 2), T0 + 3600) == Data(_D.UNSIGNED, 30)


def test_new_prices_switched_in_change_what_the_wallet_is_charged() -> None:
    meter, wallet = fitted_meter(config=UNPROTECTED, cost=CostControl())
    assert wallet is not None
    station = rig().station
    station.register(ADDRESS, key_version=1)
    now = T0 + 3600
    amount, protected = (item.value for item in station.top_up(ADDRESS, 5000).value)
    wallet.top_up(amount, protected.sid, protected.mac, now)
    meter.measure(HOUSE, 60.0, now)
    meter.press_button(now)
    line = Line(meter)
    switch = Data(_D.DATE_TIME_S, DateTimeS.from_posix(now + 1800))
    prices = Data.array(Data(_D.DOUBLE_LONG_UNSIGNED, 20_000))  # 2 yuan/kWh for tariff 1
    assert line.set(OAD(0x4017, 2), table(period(0, 0, 1)), now) == DAR.SUCCESS
    assert line.set(OAD(0x4019, 2), prices, now) == DAR.SUCCESS
    assert line.set(OAD(0x4009, 2), switch, now) == DAR.SUCCESS
    assert line.set(OAD(0x400A, 2), switch, now) == DAR.SUCCESS

    def charged(start: float) -> int:
        before = wallet.balance()
        for minute in range(1, 31):
            meter.measure(HOUSE, 60.0, start + 60 * minute)
        return before - wallet.balance()

    old = charged(now)  # 0.95 kWh at the factory's flat price, 53 fen/kWh
    new = charged(now + 1800)  # 0.95 kWh at 200 fen/kWh
    assert 40 <= old <= 60 and 180 <= new <= 200, (old, new)
    assert line.get(OAD(0x4018, 2), now + 3600) == prices
    assert line.get(OAD(0x400A, 2), now + 3600) == Data(_D.NULL)


def test_prices_of_the_wrong_shape_or_range_change_nothing() -> None:
    line = Line(running_meter(config=UNPROTECTED))
    now = T0 + 3600
    too_many = Data.array(*(Data(_D.DOUBLE_LONG_UNSIGNED, 5000) for _ in range(5)))
    assert line.set(OAD(0x4019, 2), too_many, now) == DAR.TARIFFS_EXCEEDED
    free = Data.array(Data(_D.DOUBLE_LONG_UNSIGNED, 0))
    assert line.set(OAD(0x4019, 2), free, now) == DAR.OUT_OF_RANGE
    assert line.set(OAD(0x4019, 2), Data.array(Data(_D.LONG, 5000)), now) == DAR.TYPE_MISMATCH
    assert line.set(OAD(0x4018, 2), Data.array(), now) == DAR.READ_WRITE_DENIED
    assert line.get(OAD(0x4019, 2), now) == Data.array()


def test_what_the_station_set_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "meter.nv"
    store = NonVolatileStore(path)
    meter = new_meter(config=UNPROTECTED, store=store, cost=CostControl())
    meter.power_up(T0)
    line = Line(meter)
    levels = Data.structure(Data(_D.DOUBLE_LONG_UNSIGNED, 900), Data(_D.DOUBLE_LONG_UNSIGNED, 90))
    screens = Data.array(Data.structure(Data(_D.OAD, OAD(0x2000, 2)), Data(_D.UNSIGNED, 1)))
    prices = Data.array(Data(_D.DOUBLE_LONG_UNSIGNED, 12_345))
    now = Data(_D.DATE_TIME_S, DateTimeS.from_posix(T0))
    writes = [
        (OAD(0x4017, 2), table(period(0, 0, 2), period(7, 30, 1))), (OAD(0x4009, 2), now),
        (OAD(0x4019, 2), prices), (OAD(0x400A, 2), now), (OAD(0x4100, 2), Data(_D.UNSIGNED, 5)),
        (OAD(0x401E, 2), levels), (OAD(0xF300, 2), screens),
    ]  # fmt: skip
    for oad, value in writes:
        assert line.set(oad, value, T0 + 10) == DAR.SUCCESS
    assert line.get(OAD(0x4016, 2), T0 + 10) == table(period(0, 0, 2), period(7, 30, 1))
    reads = [OAD(0x4016, 2), OAD(0x4018, 2), OAD(0x4100, 2), OAD(0x401E, 2), OAD(0xF300, 2)]
    before = [line.get(oad, T0 + 10) for oad in reads]
    store.close()
    again = new_meter(config=UNPROTECTED, store=NonVolatileStore(path), cost=CostControl())
    again.power_up(T0 + 60)
    again.measure(HOUSE, 60.0, T0 + 120)  # delivers the UART messages
    assert [Line(again).get(oad, T0 + 120) for oad in reads] == before
    assert again.management.display.render(0.0) == "voltage: 229.5 V"
    cost = again.expansion.cost
    assert cost is not None and cost.alarm_levels == (900, 90)
    assert cost.schedule.prices[1] == 123.45  # fen/kWh
    fresh = new_meter(config=UNPROTECTED, cost=CostControl())  # a meter never set: factory
    assert Line(fresh).get(OAD(0x4016, 2), T0) == Data.array()
