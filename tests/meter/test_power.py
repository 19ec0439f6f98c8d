"""The power module and the clock battery: power-down events with their durations, the RTC
kept on the battery (and stopped when it is flat), the battery drained to low and reported
once, the 3011 and 2011 objects read over 698, and the freezes and the power state carried
across an outage through their bytes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import ConfigError, DecodeError
from wattguard.meter.device import MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.freeze import FreezeObject, Freezer, expose_freezes
from wattguard.meter.management.module import LinkKeys, ManagementModule
from wattguard.meter.management.power import MAX_RECORDS, Battery, PowerModule, expose_power
from wattguard.protocol import CSD, MS, OAD, RCSD, RSD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRecord, GetRequestRecord, GetResponseRecord
from wattguard.protocol.data import MSChoice
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import Line, new_meter

_D = DataType
HOUR = 3600.0
KEYS = LinkKeys(bytes(16), bytes(range(16)), bytes(range(16, 32)))


def management(offset: float = 0.0) -> ManagementModule:
    module = ManagementModule(ADDRESS, KEYS, protected=False)
    module.clock_offset = module.log.calendar_offset = offset
    return module


def test_an_outage_is_one_power_down_event_with_its_duration() -> None:
    host = management(offset=-120.0)
    power = PowerModule(host)
    power.mains_lost(T0)
    power.mains_lost(T0 + 10)  # a second interrupt during the same outage changes nothing
    (started,) = host.log.of_kind(MeterEventKind.POWER_DOWN)
    assert started.start == T0 - 120 and started.end is None
    host.log.take_unreported()  # the start went out (or would have) before the supply died
    power.mains_restored(T0 + 2 * HOUR)
    (ended,) = host.log.of_kind(MeterEventKind.POWER_DOWN)
    assert (ended.number, ended.start, ended.end) == (started.number, T0 - 120, T0 + 7080)
    assert ended.detail == "mains lost for 7200 s"
    assert host.log.take_unreported() == [ended]  # reported again when it ends
    assert (power.count, power.seconds) == (1, 2 * HOUR)
    assert host.clock_offset == -120.0  # the RTC kept time on the battery
    assert not host.log.of_kind(MeterEventKind.CLOCK_FAULT)


def test_a_flat_battery_stops_the_rtc_and_the_calendar_resumes_late() -> None:
    host = management()
    power = PowerModule(host, Battery(capacity_mah=0.01, standby_ua=10.0, self_discharge=0.0))
    power.mains_lost(T0)  # 0.01 mAh at 10 uA: flat after one hour
    power.mains_restored(T0 + 3 * HOUR)
    assert host.clock_offset == pytest.approx(-2 * HOUR)
    assert host.calendar() == host.now + host.clock_offset
    (fault,) = host.log.of_kind(MeterEventKind.CLOCK_FAULT)
    assert fault.detail == "RTC stopped for 7200 s"
    assert power.battery.flat and power.low
    # the meter's own calendar measured only the hour the RTC ran
    assert power.seconds == pytest.approx(HOUR)


def test_the_battery_drains_to_low_and_is_reported_once() -> None:
    host = management()
    cell = Battery(capacity_mah=1.0, standby_ua=10.0, self_discharge=0.0)  # 100 h of outage
    power = PowerModule(host, cell)
    volts = [cell.voltage()]
    now = T0
    for hours in [8.0] * 12 + [1.5]:  # 97.5 h on battery: 2.5 % left, below 3.0 V
        power.mains_lost(now)
        now += hours * HOUR
        power.mains_restored(now)
        volts.append(cell.voltage())
        now += HOUR
        power.step(now)
    assert volts == sorted(volts, reverse=True) and volts[0] == pytest.approx(3.66)
    (low,) = host.log.of_kind(MeterEventKind.BATTERY_LOW)
    assert power.low and cell.voltage() < 3.0 < volts[-2]
    assert low.detail == f"clock battery {cell.voltage():.2f} V"
    power.replace_battery(Battery(), now)
    assert not power.low
    assert len(host.log.of_kind(MeterEventKind.BATTERY_LOW)) == 1


def test_self_discharge_takes_a_percent_a_year_with_the_mains_present() -> None:
    power = PowerModule(management())
    power.step(T0)
    power.step(T0 + 365.25 * 86400)
    assert power.battery.charge_mah == pytest.approx(1200 * 0.99)
    assert power.battery.voltage() > 3.6 and not power.low


def test_a_battery_needs_a_capacity() -> None:
    with pytest.raises(ConfigError):
        Battery(capacity_mah=0)


def test_3011_keeps_the_last_ten_outages_and_their_totals() -> None:
    host = management()
    power = PowerModule(host)
    for k in range(MAX_RECORDS + 2):
        power.mains_lost(T0 + k * HOUR)
        power.mains_restored(T0 + k * HOUR + 60 * (k + 1))
    power.mains_lost(T0 + 20 * HOUR)  # one still running
    model = host.model
    expose_power(model, power)
    assert model.get(OAD(0x3011, 4)) == Data(_D.LONG_UNSIGNED, MAX_RECORDS)
    assert model.get(OAD(0x3011, 5)) == Data(_D.LONG_UNSIGNED, MAX_RECORDS)
    totals = model.get(OAD(0x3011, 7))
    assert totals == Data.array(
        Data.structure(
            Data(_D.NULL),
            Data.structure(
                Data(_D.DOUBLE_LONG_UNSIGNED, 12), Data(_D.DOUBLE_LONG_UNSIGNED, 60 * 78)
            ),
        )
    )
    answer = model.get_record(
        GetRecord(OAD(0x3011, 2), RSD(10, (3, MS(MSChoice.ALL_METERS))), RCSD(()))
    )
    assert isinstance(answer.result, tuple)
    assert [c.column for c in answer.columns.columns] == [
        OAD(0x2022, 2), OAD(0x201E, 2), OAD(0x2020, 2), OAD(0x2024, 2)
    ]  # fmt: skip
    numbers = [row[0].value for row in answer.result]
    assert numbers == [11, 12, 13]
    eleventh, twelfth, running = answer.result
    assert eleventh[2].value.to_posix() - eleventh[1].value.to_posix() == 11 * 60
    assert twelfth[2].value.to_posix() - twelfth[1].value.to_posix() == 12 * 60
    assert running[2] == Data(_D.NULL)
    assert model.get(OAD(0x2011, 2)) == Data(_D.LONG_UNSIGNED, 366)


def test_power_state_round_trips_and_bad_bytes_are_refused() -> None:
    host = management(offset=55.0)
    power = PowerModule(host, Battery(capacity_mah=5.0))
    power.mains_lost(T0)
    power.mains_restored(T0 + HOUR)
    power.mains_lost(T0 + 2 * HOUR)
    blob = power.to_bytes()
    fresh = management()
    again = PowerModule.from_bytes(blob, fresh, Battery(capacity_mah=5.0))
    assert again.to_bytes() == blob and fresh.clock_offset == 55.0
    again.mains_restored(T0 + 3 * HOUR)  # the closing survives the lost RAM
    (event,) = fresh.log.of_kind(MeterEventKind.POWER_DOWN)
    assert (event.start, event.end) == (T0 + 2 * HOUR + 55, T0 + 3 * HOUR + 55)
    assert again.count == 2 and again.seconds == 2 * HOUR
    for bad in (blob[:-1], blob + b"\x00", b"WGPX" + blob[4:], b""):
        with pytest.raises(DecodeError):
            PowerModule.from_bytes(bad, management())


@settings(max_examples=150)
@given(st.binary(max_size=120))
def test_garbage_never_restores_a_power_module(blob: bytes) -> None:
    try:
        module = PowerModule.from_bytes(blob, management())
    except DecodeError:
        return
    assert math.isfinite(module.host.clock_offset)


def test_freezes_and_power_state_survive_an_outage_read_over_698() -> None:
    """A running meter saves its freezes and power state at the power-fail interrupt, loses
    its RAM during three days without mains, restores both, fills the missed day freezes
    and answers for the outage over 698."""
    store: dict[str, bytes] = {}
    meter = new_meter(ADDRESS, keys=KEYS, config=MeterConfig(protected=False))
    host = meter.management
    freezer = Freezer(host.model.get, persist=store.__setitem__)
    power = PowerModule(host)
    power.on_power_fail.append(lambda: store.__setitem__("power", power.to_bytes()))
    expose_freezes(host.model, freezer, host.calendar)
    expose_power(host.model, power)
    midnight = T0 - T0 % 86400 + 86400
    start = midnight - 30 * 60
    meter.power_up(start)
    for minute in range(60):
        now = start + 60 * minute + 1
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)
        power.step(now)
        freezer.step(host.calendar())
    energy = host.registers.to_data(0x0010)
    lost = meter.now + 1
    power.mains_lost(lost)

    # The RAM is gone: a new management module's model gets the restored state.
    back = lost + 3 * 86400
    meter.management = host = ManagementModule(ADDRESS, KEYS, protected=False)
    host.registers = meter.metering.registers  # the registers, as the chip still holds them
    freezer = Freezer(host.model.get, associations={})
    for key, blob in store.items():
        if key.startswith("freeze/"):
            freezer.load_object(blob)
    power = PowerModule.from_bytes(store["power"], host)
    expose_freezes(host.model, freezer, host.calendar)
    expose_power(host.model, power)
    host.now = back
    power.mains_restored(back)
    freezer.step(host.calendar())

    client = Line(meter)
    request = GetRecord(OAD(0x5004, 2), RSD(0), RCSD((CSD(OAD(0x2021, 2)), CSD(OAD(0x0010, 2)))))
    answer = client.exchange(GetRequestRecord(client.piid(), request), back)
    assert isinstance(answer, GetResponseRecord) and isinstance(answer.result.result, tuple)
    days = [(t.value.to_posix(), e) for t, e in answer.result.result]
    assert [t for t, _ in days] == [midnight + 86400 * d for d in range(4)]
    assert all(e == energy for _, e in days[1:])  # filled with the registers that stood still
    outage = client.exchange(
        GetRequestRecord(client.piid(), GetRecord(OAD(0x3011, 2), RSD(9, (1,)), RCSD(()))), back
    )
    ((number, began, ended, source),) = outage.result.result  # type: ignore[attr-defined]
    assert number == Data(_D.DOUBLE_LONG_UNSIGNED, 1) and source == Data(_D.NULL)
    assert ended.value.to_posix() - began.value.to_posix() == 3 * 86400
    assert client.get(OAD(0x2011, 2), back).value == 366
    assert freezer.table(FreezeObject.MINUTE).times()[-1] < back  # no invented minutes
    assert client.get(OAD(0x3011, 9), back) == DAR.OBJECT_NOT_EXIST
    assert ended.value == DateTimeS.from_posix(back + host.clock_offset)
