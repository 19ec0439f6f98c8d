"""Profile mode: the seeded load models and the columnar registers of a fleet."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from wattguard.errors import ConfigError
from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion import TariffSchedule
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters
from wattguard.simulation import bdew
from wattguard.simulation.fleet import MeterFleet
from wattguard.simulation.profile import LoadClass, LoadModel
from wattguard.simulation.profile_fleet import ProfileFleet
from wattguard.simulation.solar import Site, clear_sky_ghi, cos_zenith
from wattguard.testing.meter import new_meter

H = 3600.0


def day(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC).timestamp()


WINTER_WEDNESDAY = day("2026-01-14")
SUMMER_WEDNESDAY = day("2026-07-15")
SUMMER_SUNDAY = day("2026-07-19")
EVERY_CLASS = [LoadClass.HOUSEHOLD, LoadClass.SHOP, LoadClass.EV_CHARGER, LoadClass.PV] * 3


def hours(p: np.ndarray, start: float, first: float, last: float) -> np.ndarray:
    """Rows of a (minutes, n) block from hour ``first`` to hour ``last`` of the block's day."""
    offset = int((start % 86_400) // 60)
    return p[int(first * 60) - offset : int(last * 60) - offset]


class Constant:
    """A block load with the same powers every minute: a source we can reason about."""

    def __init__(self, p: list[float], q: list[float]) -> None:
        self.n = len(p)
        self.p = np.array(p, dtype=np.float64)
        self.q = np.array(q, dtype=np.float64)

    def power(self, start: float, minutes: int) -> tuple[np.ndarray, np.ndarray]:
        return np.tile(self.p, (minutes, 1)), np.tile(self.q, (minutes, 1))

    def source(self, meters: list[int] | None = None):  # type: ignore[no-untyped-def]
        raise NotImplementedError


# -- the load model ------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_load_in_any_order_and_block_size() -> None:
    model = LoadModel.mixed(300, seed=7)
    p, q = model.power(SUMMER_WEDNESDAY, 120)
    again = LoadModel.mixed(300, seed=7)
    pieces = [
        again.power(SUMMER_WEDNESDAY + 60 * a, b - a) for a, b in ((77, 120), (0, 7), (7, 77))
    ]
    order = (1, 2, 0)
    assert np.array_equal(np.concatenate([pieces[k][0] for k in order]), p)
    assert np.array_equal(np.concatenate([pieces[k][1] for k in order]), q)
    assert p.shape == q.shape == (120, 300)
    other = LoadModel.mixed(300, seed=8)
    assert not np.array_equal(other.classes, model.classes)
    same_classes = LoadModel(model.classes, seed=8).power(SUMMER_WEDNESDAY, 120)[0]
    assert np.mean(np.abs(same_classes - p) > 1.0) > 0.5


def test_households_peak_in_the_evening_and_are_quiet_at_night() -> None:
    model = LoadModel([LoadClass.HOUSEHOLD] * 400, seed=1)
    p, q = model.power(WINTER_WEDNESDAY, 1440)
    evening = hours(p, WINTER_WEDNESDAY, 18, 21).mean()
    night = hours(p, WINTER_WEDNESDAY, 2, 5).mean()
    morning = hours(p, WINTER_WEDNESDAY, 7, 9).mean()
    assert evening > 2.5 * night and morning > 1.5 * night
    assert (p > 0).all()
    assert (q > 0).mean() > 0.8 and (q < 0).any()  # inductive, some quiet capacitive houses
    daily_kwh = p.sum(axis=0) / 60 / 1000
    assert 4 < daily_kwh.mean() < 12  # about 2,500-3,000 kWh a year in winter
    assert daily_kwh.std() > 0.2 * daily_kwh.mean()  # houses differ
    summer = LoadModel([LoadClass.HOUSEHOLD] * 400, seed=1).power(SUMMER_WEDNESDAY, 1440)[0]
    assert summer.sum() < 0.85 * p.sum()  # seasons: the dynamised H0


def test_appliances_make_households_spiky() -> None:
    p, _ = LoadModel([LoadClass.HOUSEHOLD] * 200, seed=2).power(WINTER_WEDNESDAY + 18 * H, 60)
    assert (p > 1500).any(axis=0).mean() > 0.3  # kettles, ovens, washing machines
    jumps = np.abs(np.diff(p, axis=0))
    assert (jumps > 900).sum() > 100


def test_pv_exports_at_noon_on_a_clear_day_and_not_at_night() -> None:
    model = LoadModel([LoadClass.PV] * 200, seed=3, sky=1.0)
    p, q = model.power(SUMMER_WEDNESDAY, 1440)
    noon = hours(p, SUMMER_WEDNESDAY, 11.5, 12.5)
    assert noon.mean() < -1500 and (noon < 0).mean() > 0.95
    assert (hours(p, SUMMER_WEDNESDAY, 0, 4) > 0).all()
    # Unity-PF inverter: an exporting house still draws its reactive power (quadrant II).
    assert (hours(q, SUMMER_WEDNESDAY, 11.5, 12.5)[noon < 0] > 0).mean() > 0.8
    cloudy = LoadModel([LoadClass.PV] * 200, seed=3, sky=0.2).power(SUMMER_WEDNESDAY, 1440)[0]
    assert hours(cloudy, SUMMER_WEDNESDAY, 11.5, 12.5).mean() > noon.mean() + 1000


def test_pv_weather_varies_from_day_to_day() -> None:
    model = LoadModel([LoadClass.PV] * 50, seed=4)
    noons = [model.power(SUMMER_WEDNESDAY + d * 86_400 + 12 * H, 1)[0].mean() for d in range(20)]
    assert max(noons) - min(noons) > 1000


def test_ev_sessions_draw_the_charger_power() -> None:
    model = LoadModel([LoadClass.EV_CHARGER] * 100, seed=5)
    p, q = model.power(SUMMER_WEDNESDAY, 3 * 1440)
    charging = p == 7000.0
    assert charging.any(axis=0).mean() > 0.5  # most cars came at least once in three days
    idle = p == 3.0
    partial = ~(charging | idle)
    assert ((p[partial] > 3.0) & (p[partial] < 7000.0)).all()
    # A session is one run of full minutes, with at most a partial minute at either end.
    starts = (charging[1:] & ~charging[:-1]).sum()
    assert partial.sum() <= 2 * starts + 2 * 100
    evening = charging[17 * 60 : 23 * 60].mean()
    assert evening > 5 * charging[9 * 60 : 15 * 60].mean()
    assert np.all(np.abs(q) <= 0.05 * p + 1e-9)


def test_shops_close_at_night_and_on_sunday() -> None:
    model = LoadModel([LoadClass.SHOP] * 100, seed=6)
    p, _ = model.power(SUMMER_WEDNESDAY, 1440)
    assert (
        hours(p, SUMMER_WEDNESDAY, 1, 5).mean() < 0.45 * hours(p, SUMMER_WEDNESDAY, 10, 12).mean()
    )
    sunday = LoadModel([LoadClass.SHOP] * 100, seed=6).power(SUMMER_SUNDAY, 1440)[0]
    assert sunday.sum() < 0.7 * p.sum()


def test_the_standard_profiles_hold_a_thousand_kwh_a_year() -> None:
    for profile in ("H0", "G4"):
        total = sum(
            bdew.curve(profile, dt.date(2026, 1, 1) + dt.timedelta(days=d)).sum() / 4
            for d in range(365)
        )
        assert total == pytest.approx(1_000_000, rel=0.02)  # Wh
    assert bdew.dynamisation(dt.date(2026, 1, 1)) == pytest.approx(1.24, abs=0.01)
    assert bdew.season(dt.date(2026, 3, 20)) == bdew.Season.WINTER
    assert bdew.season(dt.date(2026, 3, 21)) == bdew.Season.TRANSITION
    assert bdew.season(dt.date(2026, 5, 15)) == bdew.Season.SUMMER
    assert bdew.season(dt.date(2026, 9, 15)) == bdew.Season.TRANSITION
    assert bdew.day_type(dt.date(2026, 12, 24)) == bdew.DayType.SATURDAY
    assert bdew.day_type(dt.date(2026, 10, 1), frozenset({dt.date(2026, 10, 1)})) == (
        bdew.DayType.SUNDAY
    )
    with pytest.raises(ConfigError, match="X9"):
        bdew.curve("X9", dt.date(2026, 1, 1))


def test_the_sun_is_where_it_should_be() -> None:
    site = Site()  # Shanghai
    minutes = day("2026-06-21") + 60.0 * np.arange(1440)
    elevation = 90 - np.degrees(np.arccos(cos_zenith(site, minutes)))
    assert elevation.max() == pytest.approx(90 - (31.23 - 23.44), abs=0.3)
    noon = int(np.argmax(elevation))
    assert 11 * 60 + 45 <= noon <= 12 * 60  # east of the zone's meridian: before 12:00
    ghi = clear_sky_ghi(site, minutes)
    assert ghi[: 4 * 60].max() == 0 and 950 < ghi.max() < 1100
    with pytest.raises(ConfigError):
        Site(latitude=91)


def test_a_load_source_for_assembled_meters_averages_over_the_step() -> None:
    model = LoadModel.mixed(10, seed=9)
    p, q = model.power(SUMMER_WEDNESDAY, 3)
    load = model.source([4, 2])
    lp, lq = load(SUMMER_WEDNESDAY + 60, 60)
    assert np.array_equal(lp, p[0, [4, 2]]) and np.array_equal(lq, q[0, [4, 2]])
    half = load(SUMMER_WEDNESDAY + 90, 60)[0]  # half of minute 0, half of minute 1
    assert half == pytest.approx((p[0, [4, 2]] + p[1, [4, 2]]) / 2)
    assert model.load(SUMMER_WEDNESDAY + 180, 180)[0] == pytest.approx(p.mean(axis=0))
    fleet = ProfileFleet(model, SUMMER_WEDNESDAY)
    assert np.array_equal(fleet.load(SUMMER_WEDNESDAY + 120, 60)[1], q[1])


def test_bad_load_model_use_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        LoadModel([7], seed=0)
    with pytest.raises(ConfigError, match="at least one"):
        LoadModel([], seed=0)
    with pytest.raises(ConfigError, match="clear-sky"):
        LoadModel([LoadClass.PV], seed=0, sky=2.0)
    with pytest.raises(ConfigError, match="mix"):
        LoadModel.mixed(5, seed=0, mix={LoadClass.SHOP: -1.0})
    model = LoadModel([LoadClass.SHOP], seed=0)
    with pytest.raises(ConfigError, match="whole minute"):
        model.power(SUMMER_WEDNESDAY + 1, 1)
    with pytest.raises(ConfigError, match=r"0\.\.0"):
        model.source([1])
    with pytest.raises(ConfigError, match="positive"):
        model.load(SUMMER_WEDNESDAY, 0)


# -- the columnar registers ----------------------------------------------------------------


def scalar_run(
    p: np.ndarray, q: np.ndarray, start: float, schedule: TariffSchedule, i: int
) -> tuple[EnergyRegisters, DemandMeter]:
    """The same minutes through the scalar registers, as the metering chip keeps them."""
    registers, demand = EnergyRegisters(4), DemandMeter(tariffs=4)
    for k in range(p.shape[0]):
        begin = start + 60.0 * k
        tariff = schedule.tariff(begin)
        registers.accumulate(float(p[k, i]), float(q[k, i]), 60.0, tariff)
        demand.accumulate(float(p[k, i]), 60.0, tariff, begin + 60.0)
    return registers, demand


def test_columns_equal_the_scalar_registers_bit_for_bit() -> None:
    start = SUMMER_WEDNESDAY + 5 * H  # across the 08:00, 10:00 and 12:00 tariff changes
    model = LoadModel(EVERY_CLASS, seed=11, sky=1.0)
    fleet = ProfileFleet(model, start)
    fleet.run(8 * 60, chunk=37)
    p, q = model.power(start, 8 * 60)
    for i in range(model.n):
        registers, demand = scalar_run(p, q, start, fleet.schedule, i)
        assert fleet.registers_of(i) == registers
        for oi in (0x0000, 0x0010, 0x0020, 0x0030, 0x0040, 0x0050, 0x0060, 0x0070, 0x0080):
            assert fleet.registers_of(i).to_data(oi, 4) == registers.to_data(oi, 4)
        handed = fleet.demand_of(i)
        assert handed.maximum == demand.maximum and handed.current == demand.current
        assert list(handed._energy) == list(demand._energy)
    pv = model.classes == LoadClass.PV
    assert (fleet.reverse_active[pv, 0] > 0).all() and (fleet.reactive(2)[pv, 0] > 0).all()
    assert {t for t in range(1, 4) if fleet.forward_active[:, t].sum() > 0} == {1, 2, 3}


def test_edge_powers_fall_in_the_same_quadrants() -> None:
    p = [0.0, -0.0, 1e-300, -1e-300, 5.0, -5.0, 5.0, -5.0, 0.0, 2e5]
    q = [0.0, 0.0, -0.0, 3.0, -0.0, -3.0, -1e-300, 1e-300, -7.0, -2e5]
    load = Constant(p, q)
    start = WINTER_WEDNESDAY + 7 * H + 50 * 60
    fleet = ProfileFleet(load, start)
    fleet.run(30)
    block = load.power(start, 30)
    for i in range(load.n):
        registers, demand = scalar_run(*block, start, fleet.schedule, i)
        assert fleet.registers_of(i) == registers
        assert fleet.demand_of(i).maximum == demand.maximum


def test_a_tariff_change_splits_the_energy_at_the_minute() -> None:
    start = WINTER_WEDNESDAY + 8 * H - 120  # 07:58, valley until 08:00 then flat
    fleet = ProfileFleet(Constant([1000.0], [0.0]), start)
    fleet.run(4)
    assert fleet.forward_active[0].tolist() == [240_000.0, 0.0, 120_000.0, 120_000.0, 0.0]
    assert fleet.schedule.tariff(start) == 3 and fleet.schedule.tariff(start + 120) == 2


def test_minute_freezes_add_up_to_the_register() -> None:
    model = LoadModel.mixed(60, seed=12)
    fleet = ProfileFleet(model, WINTER_WEDNESDAY)
    fleet.run(300)
    before = [fleet.registers_of(i).to_data(0x0010, 4).value[0].value for i in range(60)]
    fleet.run(1440 - 300)
    freezes = fleet.minute_freezes(WINTER_WEDNESDAY, 1440).astype(np.int64)
    assert freezes.dtype == np.int64 and freezes.shape == (1440, 60)
    for i in range(60):
        after = fleet.registers_of(i).to_data(0x0010, 4).value[0].value
        assert freezes[:, i].sum() == after
        assert freezes[300:, i].sum() == after - before[i]
    pv = np.flatnonzero(model.classes == LoadClass.PV)
    assert pv.size and (freezes[11 * 60 : 13 * 60, pv] == 0).any()  # exporting: no import
    assert fleet.minute_freezes(WINTER_WEDNESDAY + 60 * 1439, 1).shape == (1, 60)


def test_the_freeze_keeps_its_depth() -> None:
    fleet = ProfileFleet(Constant([600.0], [0.0]), SUMMER_WEDNESDAY, freeze_depth=10)
    fleet.run(25)
    assert fleet.minute_freezes(SUMMER_WEDNESDAY + 15 * 60, 10).tolist() == [[100]] * 10
    for start, count in ((SUMMER_WEDNESDAY + 14 * 60, 1), (SUMMER_WEDNESDAY + 20 * 60, 6)):
        with pytest.raises(ConfigError, match="not held"):
            fleet.minute_freezes(start, count)


def test_a_handed_over_meter_carries_on_in_the_assembled_world() -> None:
    start = SUMMER_WEDNESDAY + 17 * H
    flat = TariffSchedule(periods=(1,) * 24, prices={1: 50})  # an assembled meter without
    model = LoadModel(EVERY_CLASS, seed=13)  # cost control meters everything in tariff 1
    fleet = ProfileFleet(model, start, schedule=flat)
    fleet.run(60)
    chosen = [2, 3]
    meters = [
        new_meter(bytes([0, 0, 0, 0, 0, i + 1]), config=MeterConfig(protected=False))
        for i in chosen
    ]
    for meter, i in zip(meters, chosen, strict=True):
        meter.metering.registers = fleet.registers_of(i)
        meter.metering.demand = fleet.demand_of(i)
    assembled = MeterFleet(meters, fleet.source(chosen))
    assembled.power_up(fleet.now)
    assembled.run_until(fleet.now + 30 * 60)
    fleet.run(30)
    for meter, i in zip(meters, chosen, strict=True):
        assert meter.metering.registers == fleet.registers_of(i)
        assert meter.metering.demand.maximum == fleet.demand_of(i).maximum
        assert meter.management.registers.to_data(0x0010) == fleet.registers_of(i).to_data(0x0010)


def test_bad_fleet_input_is_refused_and_changes_nothing() -> None:
    fleet = ProfileFleet(Constant([1.0, 2.0], [0.0, 0.0]), SUMMER_WEDNESDAY)
    fleet.run(20)
    energy, now = fleet.energy.copy(), fleet.now
    with pytest.raises(ConfigError, match="shape"):
        fleet.accumulate(np.ones((3, 3)), np.ones((3, 3)))
    bad = np.ones((3, 2))
    bad[2, 1] = np.nan
    with pytest.raises(ConfigError, match="finite"):
        fleet.accumulate(bad, np.ones((3, 2)))
    bad[2, 1] = np.inf
    with pytest.raises(ConfigError, match="finite"):
        fleet.accumulate(np.ones((3, 2)), bad)
    assert np.array_equal(fleet.energy, energy) and fleet.now == now
    with pytest.raises(ConfigError, match="index 2"):
        fleet.registers_of(2)
    with pytest.raises(ConfigError, match="quadrants"):
        fleet.reactive(5)
    with pytest.raises(ConfigError, match="whole minute"):
        ProfileFleet(Constant([1.0], [0.0]), SUMMER_WEDNESDAY + 1)
    with pytest.raises(ConfigError, match="schedule"):
        ProfileFleet(Constant([1.0], [0.0]), SUMMER_WEDNESDAY, tariffs=2)
    with pytest.raises(ConfigError, match="slide"):
        ProfileFleet(Constant([1.0], [0.0]), SUMMER_WEDNESDAY, demand_slide=90)
    with pytest.raises(ConfigError, match="at least one"):
        ProfileFleet(Constant([1.0], [0.0]), SUMMER_WEDNESDAY, freeze_depth=0)


def test_a_meter_costs_well_under_twenty_kilobytes() -> None:
    fleet = ProfileFleet(LoadModel.mixed(1000, seed=14), SUMMER_WEDNESDAY)
    assert fleet.nbytes() / 1000 < 7_000  # a day of freezes (5,760 B) and the registers
