"""The freezes (5000-5006): taken on the meter's calendar boundaries, kept in compact rings,
read back with each RSD selector and RCSD columns, filled or not after an outage or a clock
jump as the module documents, and restored from bytes after a power loss."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import ConfigError, DecodeError
from wattguard.meter.management.freeze import (
    FreezeAssociation,
    FreezeObject,
    Freezer,
    expose_freezes,
)
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.records import add_months
from wattguard.protocol import CSD, MS, OAD, OMD, RCSD, ROAD, RSD, TI, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRecord
from wattguard.protocol.data import MSChoice

DAY0 = 1_789_948_800  # 2026-09-21 00:00:00 of the meter's calendar
ENERGY, VOLTAGE, POWER = OAD(0x0010, 2), OAD(0x2000, 2), OAD(0x2004, 2)
NUMBER, TIME = OAD(0x2023, 2), OAD(0x2021, 2)
ALL = MS(MSChoice.ALL_METERS)
_D = DataType
stamp = DateTimeS.from_posix  # the meter's calendar second as a date_time_s


class Live:
    """The attribute values a meter would answer, moved by the test."""

    def __init__(self) -> None:
        self.energy = 0
        self.volts = 2200

    def read(self, oad: OAD) -> Data | DAR:
        if oad == ENERGY:
            registers = (self.energy, self.energy // 2, self.energy - self.energy // 2, 0, 0)
            return Data.array(*(Data(_D.DOUBLE_LONG_UNSIGNED, v) for v in registers))
        if oad == VOLTAGE:
            return Data.array(Data(_D.LONG_UNSIGNED, self.volts))
        if oad == POWER:
            return Data.array(Data(_D.NULL), Data(_D.NULL))  # no measurement yet
        return DAR.OBJECT_UNDEFINED


def freezer(live: Live, **options: object) -> Freezer:
    associations = {
        FreezeObject.MINUTE: [FreezeAssociation(15, ENERGY, 96), FreezeAssociation(1, VOLTAGE, 60)],
        FreezeObject.DAY: [FreezeAssociation(1, ENERGY, 62), FreezeAssociation(1, VOLTAGE, 62)],
        FreezeObject.MONTH: [FreezeAssociation(1, ENERGY, 12)],
    }
    return Freezer(live.read, associations=associations, **options)  # type: ignore[arg-type]


def run(f: Freezer, live: Live, start: int, minutes: int, offset: int = 7) -> None:
    """Step once a minute, ``offset`` seconds after each minute, the energy counting minutes."""
    for minute in range(minutes):
        live.energy = (start - DAY0) // 60 + minute
        f.step(start + 60 * minute + offset)


def read(f: Freezer, oi: int, rsd: RSD, *columns: OAD | ROAD) -> tuple[tuple[Data, ...], ...]:
    answer = f.records(GetRecord(OAD(oi, 2), rsd, RCSD(tuple(CSD(c) for c in columns))))
    assert isinstance(answer.result, tuple), answer.result
    return answer.result


def times(rows: tuple[tuple[Data, ...], ...], column: int = 1) -> list[int]:
    return [row[column].value.to_posix() for row in rows]


def energy_total(value: Data) -> int:
    total: int = value.value[0].value
    return total


# schedule


def test_minute_freeze_lands_on_the_period_boundaries_with_the_live_values() -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 120)
    rows = read(f, 0x5002, RSD(0), TIME, ENERGY)
    fifteen = [row for row in rows if row[1].type != _D.NULL]
    assert [r[0].value.to_posix() for r in fifteen] == [DAY0 + 900 * k for k in range(8)]
    # each frozen energy is the value live when the boundary was crossed (minute k)
    assert [energy_total(r[1]) for r in fifteen] == [15 * k for k in range(8)]
    # the 1-minute voltage group keeps its last 60; merged with 00:00-00:45 that is 64 rows
    assert len(rows) == 64 and all(r[0].value.second == 0 for r in rows)


def test_day_and_month_freezes_at_midnight_of_the_calendar() -> None:
    live = Live()
    f = freezer(live)
    october = int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp())
    run(f, live, october - 3600, 180)  # 23:00 on 30 September to 02:00 on 1 October
    day = read(f, 0x5004, RSD(0), NUMBER, TIME, ENERGY)
    month = read(f, 0x5006, RSD(0), TIME, ENERGY)
    assert times(day) == [october] and times(month, 0) == [october]
    assert energy_total(day[0][2]) == (october - DAY0) // 60


def test_the_calendar_not_the_simulation_clock_decides() -> None:
    live = Live()
    f = freezer(live)
    clock_offset = -6 * 3600  # the meter's calendar runs 6 h behind the simulation
    for minute in range(24 * 60):  # simulation 01:00 to 01:00 the next day
        now = DAY0 + 3600 + 60 * minute
        f.step(now + clock_offset)
    # the simulation passed its midnight at DAY0 + 86400; the calendar passed only DAY0
    assert times(read(f, 0x5004, RSD(0), TIME), 0) == [DAY0]


def test_a_ring_keeps_the_newest_depth_rows() -> None:
    live = Live()
    f = Freezer(live.read, associations={FreezeObject.HOUR: [FreezeAssociation(1, ENERGY, 4)]})
    for hour in range(10):
        live.energy = hour
        f.step(DAY0 + 3600 * hour + 1)
    rows = read(f, 0x5003, RSD(0))
    assert [row[0].value for row in rows] == [7, 8, 9, 10]
    assert [energy_total(row[2]) for row in rows] == [6, 7, 8, 9]
    assert times(rows) == [DAY0 + 3600 * h for h in range(6, 10)]


# outages and clock jumps


def test_after_an_outage_missed_days_are_filled_and_minutes_are_not_invented() -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 60)
    live.energy, live.volts = 777, 2310
    back = DAY0 + 3 * 86400 + 5 * 3600 + 30  # three days later, 05:00:30
    f.step(back)
    days = read(f, 0x5004, RSD(0), TIME, ENERGY, VOLTAGE)
    assert times(days, 0) == [DAY0 + 86400 * d for d in range(4)]
    for filled in days[1:]:  # the registers did not move while the meter was off ...
        assert energy_total(filled[1]) == 777
        assert filled[2] == Data(_D.NULL)  # ... but nothing measured the voltage
    minutes = times(read(f, 0x5002, RSD(10, (3, ALL)), TIME), 0)
    assert minutes[-1] == back - 30  # the boundary within the grace
    assert minutes[-2] == DAY0 + 59 * 60  # and nothing in the gap


def test_a_long_outage_fills_the_seven_most_recent_days_and_twelve_months() -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 2)
    f.step(DAY0 + 400 * 86400 + 10)
    days = times(read(f, 0x5004, RSD(0), TIME), 0)
    assert days[0] == DAY0 and days[1:] == [DAY0 + 86400 * d for d in range(394, 401)]
    assert len(read(f, 0x5006, RSD(0), TIME)) == 12


def test_a_forward_clock_set_leaves_a_gap_and_a_backward_one_repeats_nothing() -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 10)
    run(f, live, DAY0 + 5 * 3600, 3)  # forward 5 h: no record for 00:15 .. 04:45
    run(f, live, DAY0 + 3600, 3)  # back to 01:00: those moments are already passed
    rows = times(read(f, 0x5002, RSD(0), TIME), 0)
    assert rows == sorted(set(rows))
    assert not [t for t in rows if DAY0 + 600 <= t < DAY0 + 5 * 3600]
    run(f, live, DAY0 + 5 * 3600 + 180, 3)  # once past 05:02 minutes are taken again
    assert times(read(f, 0x5002, RSD(9, (1,)), TIME), 0) == [DAY0 + 5 * 3600 + 300]


# selectors


@pytest.fixture
def day_of_minutes() -> Freezer:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 24 * 60)
    return f


def test_selector_1_by_time_number_and_value(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    at = Data(_D.DATE_TIME_S, stamp(DAY0 + 9 * 3600))
    (row,) = read(f, 0x5002, RSD(1, (TIME, at)), NUMBER, ENERGY)
    assert energy_total(row[1]) == 9 * 60
    (again,) = read(f, 0x5002, RSD(1, (NUMBER, row[0])), TIME)
    assert again[0] == at
    (same,) = read(f, 0x5002, RSD(1, (ENERGY, row[1])), TIME)
    assert same[0] == at
    assert read(f, 0x5002, RSD(1, (TIME, Data(_D.DATE_TIME_S, stamp(DAY0 + 61)))), TIME) == ()


def test_selector_2_window_with_and_without_interval(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    start, end = stamp(DAY0 + 23 * 3600), stamp(DAY0 + 23 * 3600 + 1800)

    def window(interval: Data) -> list[int]:
        rsd = RSD(2, (TIME, Data(_D.DATE_TIME_S, start), Data(_D.DATE_TIME_S, end), interval))
        return times(read(f, 0x5002, rsd, TIME), 0)

    assert window(Data(_D.NULL)) == [DAY0 + 23 * 3600 + 60 * k for k in range(30)]
    assert window(Data(_D.TI, TI(1, 15))) == [DAY0 + 23 * 3600, DAY0 + 23 * 3600 + 900]
    assert window(Data(_D.TI, TI(0, 0))) == window(Data(_D.NULL))
    last = read(f, 0x5002, RSD(9, (1,)), NUMBER)[0][0].value
    numbers = RSD(2, (NUMBER, Data(_D.DOUBLE_LONG_UNSIGNED, last - 3),
                      Data(_D.DOUBLE_LONG_UNSIGNED, last), Data(_D.NULL)))  # fmt: skip
    got = [row[0].value for row in read(f, 0x5002, numbers, NUMBER)]
    assert got == [last - 3, last - 2, last - 1]


def test_selector_3_9_10_and_0(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    hour = [
        RSD(2, (TIME, Data(_D.DATE_TIME_S, stamp(DAY0 + h * 3600)),
                Data(_D.DATE_TIME_S, stamp(DAY0 + h * 3600 + 120)), Data(_D.NULL)))
        for h in (23, 22)
    ]  # fmt: skip
    # 22:00 survives in the 15-minute group, 23:00 and 23:01 in the 1-minute one
    assert times(read(f, 0x5002, RSD(3, (tuple(hour),)), TIME), 0) == [
        DAY0 + 22 * 3600, DAY0 + 23 * 3600, DAY0 + 23 * 3600 + 60
    ]  # fmt: skip
    last = DAY0 + 24 * 3600 - 60
    assert times(read(f, 0x5002, RSD(9, (1,)), TIME), 0) == [last]
    assert times(read(f, 0x5002, RSD(9, (3,)), TIME), 0) == [last - 120]
    assert read(f, 0x5002, RSD(9, (0,)), TIME) == () == read(f, 0x5002, RSD(9, (200,)), TIME)
    assert times(read(f, 0x5002, RSD(10, (3, ALL)), TIME), 0) == [last - 120, last - 60, last]
    assert len(read(f, 0x5004, RSD(0), TIME)) == 1


NUMBERS_WITH_INTERVAL = RSD(
    2,
    (
        NUMBER,
        Data(_D.DOUBLE_LONG_UNSIGNED, 1),
        Data(_D.DOUBLE_LONG_UNSIGNED, 2),
        Data(_D.TI, TI(1, 1)),
    ),
)
NO_SUCH_DAY = Data(_D.DATE_TIME_S, dataclasses.replace(stamp(DAY0), day=31))  # 31 September


@pytest.mark.parametrize(
    ("rsd", "dar"),
    [
        (RSD(4, (stamp(DAY0), ALL)), DAR.READ_WRITE_DENIED),
        (RSD(1, (TIME, Data(_D.DOUBLE_LONG_UNSIGNED, 3))), DAR.TYPE_MISMATCH),
        (RSD(1, (OAD(0x2001, 2), Data(_D.NULL))), DAR.OBJECT_UNDEFINED),
        (NUMBERS_WITH_INTERVAL, DAR.TYPE_MISMATCH),
        (RSD(1, (TIME, NO_SUCH_DAY)), DAR.OUT_OF_RANGE),
    ],
)
def test_bad_selectors_answer_a_dar(day_of_minutes: Freezer, rsd: RSD, dar: DAR) -> None:
    answer = day_of_minutes.records(GetRecord(OAD(0x5002, 2), rsd, RCSD(())))
    assert answer.result == dar


# columns


def test_rcsd_subsets_elements_and_unknown_columns(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    request = GetRecord(OAD(0x5004, 2), RSD(9, (1,)), RCSD(()))
    everything = f.records(request)
    assert [c.column for c in everything.columns.columns] == [NUMBER, TIME, ENERGY, VOLTAGE]
    rows = read(f, 0x5004, RSD(9, (1,)), VOLTAGE, OAD(0x0010, 2, 1), OAD(0x0010, 2, 9),
                OAD(0x2001, 2), ROAD(OAD(0x5004, 2), (ENERGY,)), TIME)  # fmt: skip
    (row,) = rows
    assert row[0] == Data.array(Data(_D.LONG_UNSIGNED, 2200))
    assert row[1] == Data(_D.DOUBLE_LONG_UNSIGNED, 0)  # element 1: the total at 00:00
    assert row[2] == row[3] == row[4] == Data(_D.NULL)  # no element 9, no 2001, no ROAD
    assert row[5] == Data(_D.DATE_TIME_S, stamp(DAY0))


def test_a_value_that_is_not_available_reads_null_and_does_not_fix_the_shape() -> None:
    live = Live()
    f = Freezer(live.read, associations={FreezeObject.HOUR: [FreezeAssociation(1, POWER, 5)]})
    f.step(DAY0 + 1)
    assert read(f, 0x5003, RSD(0), POWER) == ((Data(_D.NULL),),)


def test_large_answers_are_bounded_and_continue_with_selector_2(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    f.budget = 600  # the default, 1900 bytes, holds these 60 short rows: shrink it
    request = GetRecord(OAD(0x5002, 2), RSD(10, (60, ALL)), RCSD(()))
    first = f.records(request)
    assert isinstance(first.result, tuple)
    assert 1 <= len(first.result) < 60 and len(first.to_bytes()) <= f.budget
    got = times(first.result)
    assert got[0] == DAY0 + 23 * 3600  # the oldest of the last 60 come first
    after = Data(_D.DATE_TIME_S, stamp(got[-1] + 1))
    end = Data(_D.DATE_TIME_S, stamp(DAY0 + 86400))
    rest = read(f, 0x5002, RSD(2, (TIME, after, end, Data(_D.NULL))), NUMBER, TIME)
    assert got + times(rest) == [DAY0 + 23 * 3600 + 60 * k for k in range(60)]


# attribute 3 and the methods, through the object model


def model_with(f: Freezer, clock: list[float]) -> ObjectModel:
    model = ObjectModel()
    expose_freezes(model, f, lambda: clock[0])
    return model


def entry(period: int, oad: OAD, depth: int) -> Data:
    return FreezeAssociation(period, oad, depth).to_data()


def test_attribute_3_reads_and_sets_and_keeps_the_rows_that_remain() -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 30)
    model = model_with(f, [0.0])
    assert model.get(OAD(0x5002, 3)) == Data.array(entry(15, ENERGY, 96), entry(1, VOLTAGE, 60))
    before = read(f, 0x5002, RSD(0), TIME, VOLTAGE)
    table = Data.array(entry(1, VOLTAGE, 60), entry(5, ENERGY, 12))
    assert model.set(OAD(0x5002, 3), table) == DAR.SUCCESS
    assert read(f, 0x5002, RSD(0), TIME, VOLTAGE) == before  # the 1-minute group stayed
    assert model.get(OAD(0x5002, 3)) == table


@pytest.mark.parametrize(
    ("value", "dar"),
    [
        (Data(_D.STRUCTURE, ()), DAR.TYPE_MISMATCH),
        (Data.array(Data.structure(Data(_D.LONG_UNSIGNED, 1))), DAR.TYPE_MISMATCH),
        (Data.array(entry(1, OAD(0x1234, 2), 5)), DAR.OBJECT_UNDEFINED),
        (Data.array(entry(1, ENERGY, 0)), DAR.OUT_OF_RANGE),
        (Data.array(entry(0, ENERGY, 5)), DAR.OUT_OF_RANGE),
        (Data.array(entry(1, TIME, 5)), DAR.OUT_OF_RANGE),
        (Data.array(entry(1, ENERGY, 5), entry(1, ENERGY, 9)), DAR.OUT_OF_RANGE),
        (Data.array(*(entry(p, ENERGY, 5) for p in range(1, 70))), DAR.OUT_OF_RANGE),
    ],
)
def test_a_bad_attribute_3_is_refused_and_changes_nothing(value: Data, dar: DAR) -> None:
    live = Live()
    f = freezer(live)
    model = model_with(f, [0.0])
    before = model.get(OAD(0x5002, 3))
    assert model.set(OAD(0x5002, 3), value) == dar
    assert model.get(OAD(0x5002, 3)) == before


def test_methods_add_delete_batch_clear_reset_and_trigger() -> None:
    live = Live()
    f = freezer(live)
    clock = [float(DAY0 + 42)]
    model = model_with(f, clock)
    oi = 0x5000
    assert model.action(OMD(oi, 4), entry(0, ENERGY, 3)) == (DAR.SUCCESS, None)
    assert model.action(OMD(oi, 7), Data.array(entry(0, VOLTAGE, 3), entry(0, ENERGY, 2)))[0] == 0
    assert model.get(OAD(oi, 3)) == Data.array(entry(0, VOLTAGE, 3), entry(0, ENERGY, 2))
    for second in range(4):
        clock[0] = DAY0 + 42 + second
        live.energy = second
        assert model.action(OMD(oi, 3), Data(_D.LONG_UNSIGNED, 0))[0] == DAR.SUCCESS
    assert model.action(OMD(oi, 3), Data(_D.LONG_UNSIGNED, 0))[0] == DAR.TEMPORARY_FAILURE
    rows = read(f, oi, RSD(0), NUMBER, ENERGY, VOLTAGE)
    assert [r[0].value for r in rows] == [2, 3, 4]  # depth 3 of voltage keeps three moments
    assert [r[1] == Data(_D.NULL) for r in rows] == [True, False, False]  # energy: depth 2
    assert model.action(OMD(oi, 5), Data(_D.OAD, VOLTAGE))[0] == DAR.SUCCESS
    assert model.action(OMD(oi, 5), Data(_D.OAD, VOLTAGE))[0] == DAR.OBJECT_NOT_EXIST
    assert model.action(OMD(oi, 1), Data(_D.INTEGER, 0))[0] == DAR.SUCCESS
    assert read(f, oi, RSD(0), NUMBER) == ()
    assert model.action(OMD(oi, 8), Data(_D.NULL))[0] == DAR.SUCCESS
    assert model.get(OAD(oi, 3)) == Data.array()
    assert model.action(OMD(oi, 6), Data(_D.NULL))[0] == DAR.OBJECT_NOT_EXIST


# surviving power loss


def test_freezes_survive_to_bytes_and_from_bytes(day_of_minutes: Freezer) -> None:
    f = day_of_minutes
    blob = f.to_bytes()
    again = Freezer.from_bytes(blob, Live().read)
    assert again.to_bytes() == blob
    for oi in (0x5002, 0x5004, 0x5006):
        request = GetRecord(OAD(oi, 2), RSD(0), RCSD(()))
        assert again.records(request) == f.records(request)
    live = Live()
    live.energy = 5000
    again.read = live.read
    again.step(DAY0 + 86400 + 60 + 3)  # carries on from where it stopped, 63 s later:
    # 00:00 is past the grace and not invented; 00:01 takes the next number
    assert times(read(again, 0x5002, RSD(10, (2, ALL)), TIME), 0) == [
        DAY0 + 86400 - 60, DAY0 + 86400 + 60
    ]  # fmt: skip
    assert read(again, 0x5002, RSD(9, (1,)), NUMBER)[0][0].value == 24 * 60 + 1


def test_each_change_is_handed_to_the_store(day_of_minutes: Freezer) -> None:
    saved: dict[str, bytes] = {}
    live = Live()
    f = freezer(live, persist=saved.__setitem__)
    run(f, live, DAY0, 16)
    assert set(saved) == {"freeze/5002", "freeze/5004", "freeze/5006"}
    fresh = Freezer(live.read, associations={})
    for blob in saved.values():
        fresh.load_object(blob)
    # what a step that froze nothing moves (how far it looked) is not written each minute
    for oi in FreezeObject:
        request = GetRecord(OAD(oi, 2), RSD(0), RCSD(()))
        assert fresh.records(request) == f.records(request)
        assert fresh.tables[oi].entries == f.tables[oi].entries
    groups = fresh.table(FreezeObject.MONTH).groups.values()
    assert groups and all(g.last is not None for g in groups)


@pytest.mark.parametrize("cut", [0, 3, 4, 5, 30, -1])
def test_truncated_or_foreign_bytes_are_refused(day_of_minutes: Freezer, cut: int) -> None:
    blob = day_of_minutes.to_bytes()
    with pytest.raises(DecodeError):
        Freezer.from_bytes(blob[:cut], Live().read)
    with pytest.raises(DecodeError):
        Freezer.from_bytes(b"XXXX" + blob[4:], Live().read)


@settings(max_examples=200)
@given(st.binary(max_size=300), st.integers(0, 2000))
def test_corrupt_bytes_raise_decode_error_only(noise: bytes, at: int) -> None:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0, 20)
    blob = bytearray(f.to_bytes())
    at = min(at, len(blob))
    blob[at : at + len(noise)] = noise
    with contextlib.suppress(DecodeError):
        Freezer.from_bytes(bytes(blob), live.read)


def test_a_week_of_fifteen_minute_curve_is_compact() -> None:
    live = Live()
    f = Freezer(live.read, associations={FreezeObject.MINUTE: [FreezeAssociation(15, ENERGY, 672)]})
    for quarter in range(700):
        live.energy = quarter
        f.step(DAY0 + 900 * quarter + 1)
    group = f.table(FreezeObject.MINUTE).groups[(15, 672)]
    held = group.times.nbytes + group.seqs.nbytes + group.columns[ENERGY].values.nbytes  # type: ignore[union-attr]
    assert held <= 672 * (8 + 4 + 5 * 4 + 1)
    assert len(f.object_bytes(FreezeObject.MINUTE)) < 24_000


# selector 2 against a brute-force model


def grid(start: int, end: int, interval: TI | None) -> set[int]:
    """Every moment start + k x interval below end, enumerated one by one."""
    if interval is None or not interval.interval:
        return set(range(start, end))
    origin = dt.datetime.fromtimestamp(start, dt.UTC)
    out, k = set(), 0
    while True:
        if interval.unit <= 3:
            moment = start + k * interval.interval * (1, 60, 3600, 86400)[interval.unit]
        else:
            months = k * interval.interval * (12 if interval.unit == 5 else 1)
            moment = int(add_months(origin, months).timestamp())
        if moment >= end:
            return out
        out.add(moment)
        k += 1


@settings(max_examples=150)
@given(
    gaps=st.lists(st.sampled_from([60, 900, 3600, 86400, 86400 * 31]), min_size=0, max_size=60),
    start=st.integers(-2 * 86400, 120 * 86400),
    length=st.integers(0, 200 * 86400),
    interval=st.none() | st.builds(TI, st.integers(0, 5), st.integers(0, 4)),
)
def test_selector_2_matches_brute_force(
    gaps: list[int], start: int, length: int, interval: TI | None
) -> None:
    live = Live()
    f = Freezer(live.read, associations={FreezeObject.SECOND: [FreezeAssociation(1, ENERGY, 100)]},
                grace=0.5)  # fmt: skip
    moment = DAY0
    frozen = []
    for gap in gaps:
        moment += gap
        f.step(moment)  # a 1-second freeze stepped only at these moments freezes just them
        frozen.append(moment)
    assert f.table(FreezeObject.SECOND).times().tolist() == frozen
    low, high = DAY0 + start, DAY0 + start + length
    rsd = RSD(2, (TIME, Data(_D.DATE_TIME_S, stamp(low)), Data(_D.DATE_TIME_S, stamp(high)),
                  Data(_D.NULL) if interval is None else Data(_D.TI, interval)))  # fmt: skip
    answer = f.records(GetRecord(OAD(0x5001, 2), rsd, RCSD((CSD(TIME),))))
    assert isinstance(answer.result, tuple)
    expected = sorted(set(frozen) & grid(low, high, interval))
    got = times(answer.result, 0)
    assert got == expected[: len(got)] and (len(got) == len(expected) or len(got) > 50)


def test_views_are_numpy_arrays(day_of_minutes: Freezer) -> None:
    table = day_of_minutes.table(FreezeObject.MINUTE)
    assert isinstance(table.times(), np.ndarray) and table.times().dtype == np.int64


def test_the_settlement_freeze_falls_on_its_day_and_hour() -> None:
    live = Live()
    entries = {FreezeObject.SETTLEMENT: [FreezeAssociation(1, ENERGY, 12)]}
    f = Freezer(live.read, associations=entries, settlement=(15, 8))
    fifteenth = int(dt.datetime(2026, 10, 15, 8, tzinfo=dt.UTC).timestamp())
    for hour in range(-3, 3):
        f.step(fifteenth + 3600 * hour + 10)
    assert times(read(f, 0x5005, RSD(0), TIME), 0) == [fifteenth]
    with pytest.raises(ConfigError):
        Freezer(live.read, associations={}, settlement=(29, 0))


def test_a_plain_get_of_the_record_attribute_names_no_attribute() -> None:
    live = Live()
    model = model_with(freezer(live), [0.0])
    assert model.get(OAD(0x5004, 2)) == DAR.OBJECT_NOT_EXIST
    assert model.get(OAD(0x5007, 3)) == DAR.OBJECT_UNDEFINED


# hostile requests


_u8, _u16 = st.integers(0, 255), st.integers(0, 0xFFFF)
_columns = st.sampled_from([TIME, NUMBER, ENERGY, VOLTAGE, OAD(0x0010, 2, 3), OAD(0x1234, 2)])
_values = st.one_of(
    st.builds(lambda *f: Data(_D.DATE_TIME_S, DateTimeS(*f)), _u16, _u8, _u8, _u8, _u8, _u8),
    st.builds(lambda v: Data(_D.DOUBLE_LONG_UNSIGNED, v), st.integers(0, 2**32 - 1)),
    st.builds(lambda v: Data(_D.LONG64_UNSIGNED, v), st.integers(0, 2**64 - 1)),
    st.builds(lambda v: Data(_D.LONG64, v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda u, n: Data(_D.TI, TI(u, n)), st.integers(0, 5), _u16),
    st.just(Data(_D.NULL)),
    st.builds(lambda v: Data(_D.VISIBLE_STRING, v), st.text("ab", max_size=3)),
)
_rsds = st.one_of(
    st.builds(lambda c, v: RSD(1, (c, v)), _columns, _values),
    st.builds(lambda *f: RSD(2, f), _columns, _values, _values, _values),
    st.lists(st.builds(lambda *f: RSD(2, f), _columns, _values, _values, _values), max_size=3).map(
        lambda parts: RSD(3, (tuple(parts),))
    ),
    st.builds(lambda n: RSD(9, (n,)), _u8),
    st.builds(lambda n: RSD(10, (n, ALL)), _u8),
    st.builds(lambda s: RSD(s, ()), st.sampled_from([0])),
    st.builds(lambda s: RSD(s, (stamp(DAY0), ALL)), st.sampled_from([4, 5])),
)
_rcsds = st.lists(_columns.map(CSD), max_size=5).map(lambda c: RCSD(tuple(c)))


@settings(max_examples=300)
@given(rsd=_rsds, columns=_rcsds, oi=st.sampled_from([0x5002, 0x5004, 0x5006, 0x5000]))
def test_any_selection_answers_rows_or_a_dar(rsd: RSD, columns: RCSD, oi: int) -> None:
    f = _HOSTILE
    answer = f.records(GetRecord(OAD(oi, 2), rsd, columns))
    assert isinstance(answer.result, tuple) or answer.result in set(DAR)
    assert len(answer.to_bytes()) <= max(f.budget, 400)


def _hostile_freezer() -> Freezer:
    live = Live()
    f = freezer(live)
    run(f, live, DAY0 - 40 * 86400, 40 * 1440 // 15, offset=7)
    return f


_HOSTILE = _hostile_freezer()


def test_the_defaults_take_only_what_the_meter_has() -> None:
    f = Freezer(Live().read)  # knows 0010, 2000 and 2004 only
    assert [e.oad for e in f.table(FreezeObject.MINUTE).entries] == [ENERGY, VOLTAGE, POWER]
    assert [e.oad for e in f.table(FreezeObject.DAY).entries] == [ENERGY]
    assert f.table(FreezeObject.MINUTE).entries[0][::2] == (15, 672)
