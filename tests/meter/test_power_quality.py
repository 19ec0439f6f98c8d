"""Power-quality events in the assembled meter: each condition, measured from a waveform window
or a load profile, must hold for the delay its event object's configuration sets before the
event starts; it ends when the condition clears; the station's thresholds move it; the
station names each reported event operationally and alerts on it."""

from __future__ import annotations

from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.simulation.waveform import Waveform
from wattguard.station.operations import OPERATIONAL_RULES, operational_kind
from wattguard.station.records import OperationalKind
from wattguard.testing import HOUSE, T0
from wattguard.testing.meter import Line, running_meter

_D = DataType
_K = MeterEventKind
UNPROTECTED = MeterConfig(protected=False)  # the F101 policy is tested elsewhere
NOW = T0 + 3600  # running_meter measured until T0 + 3540


def threshold(limit: int, delay: int, kind: DataType = _D.LONG_UNSIGNED) -> Data:
    return Data.structure(Data(kind, limit), Data(_D.UNSIGNED, delay))


def steps(meter: Meter, m: Measurement, start: float, count: int, seconds: float = 60.0) -> float:
    """``count`` steps of ``m`` from ``start``; the time of the last."""
    now = start
    for index in range(count):
        now = start + seconds * index
        meter.measure(m, seconds, now)
    return now


def test_the_voltage_events_wait_for_their_delay_and_end_when_it_clears() -> None:
    meter = running_meter(config=UNPROTECTED)
    assert Line(meter).set(OAD(0x3002, 5), threshold(2450, 180), NOW) == DAR.SUCCESS
    high = Measurement(250.0, 5.0, 1000.0, 0.0)
    steps(meter, high, NOW, 2)  # two 60 s steps over the limit: under the 180 s delay
    assert not meter.log.of_kind(_K.OVER_VOLTAGE)
    steps(meter, high, NOW + 120, 1)  # 180 s
    [entry] = meter.log.of_kind(_K.OVER_VOLTAGE)
    assert entry.detail == "250.0 V" and entry.end is None
    steps(meter, HOUSE, NOW + 240, 1)
    [ended] = meter.log.of_kind(_K.OVER_VOLTAGE)
    assert ended.number == entry.number and ended.end is not None


def test_a_short_excursion_under_the_delay_raises_nothing() -> None:
    meter = running_meter(config=UNPROTECTED)
    low = Measurement(160.0, 5.0, 800.0, 0.0)
    steps(meter, HOUSE, NOW, 1, seconds=30.0)
    for minute in range(5):  # 30 s low, 30 s normal, over and over
        steps(meter, low, NOW + 60 * minute + 30, 1, seconds=30.0)
        steps(meter, HOUSE, NOW + 60 * minute + 60, 1, seconds=30.0)
    assert not meter.log.of_kind(_K.UNDER_VOLTAGE)  # 30 s each time, the delay is 60 s
    steps(meter, low, NOW + 330, 2, seconds=30.0)
    assert len(meter.log.of_kind(_K.UNDER_VOLTAGE)) == 1  # 60 s: now it counts


def test_voltage_thd_over_its_limit_from_the_waveform() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    clean = Waveform(voltage=230.0, voltage_harmonics={3: 0.01}, current_harmonics={3: 0.1})
    dirty = Waveform(voltage=230.0, voltage_harmonics={5: 0.06, 7: 0.05},
                     current_harmonics={3: 0.1})  # fmt: skip
    assert line.get(OAD(0xFF27, 5), NOW) == threshold(800, 60)  # the factory 8 %
    assert line.set(OAD(0xFF27, 5), threshold(500, 120), NOW) == DAR.SUCCESS  # 5 %, 2 min

    def window(wave: Waveform, now: float) -> None:
        v, i = wave.window(1900.0, 400.0)
        meter.measure_waveform(v, i, wave.sample_rate, now, seconds=60.0)

    window(clean, NOW + 60)
    window(dirty, NOW + 120)
    assert not meter.log.of_kind(_K.VOLTAGE_THD)  # 60 s of 120
    window(dirty, NOW + 180)
    [entry] = meter.log.of_kind(_K.VOLTAGE_THD)
    assert entry.detail.endswith("%") and 7.5 < float(entry.detail.split()[0]) < 8.1
    window(clean, NOW + 240)
    assert meter.log.of_kind(_K.VOLTAGE_THD)[0].end is not None


def test_frequency_power_factor_and_overload_each_raise_their_event() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    steps(meter, Measurement(229.0, 8.0, 1800.0, 0.0, frequency=49.3), NOW, 2)
    assert [e.detail for e in meter.log.of_kind(_K.FREQUENCY_DEVIATION)] == ["49.30 Hz"]
    poor = Measurement(229.0, 9.0, 800.0, 1900.0)  # power factor 0.39
    steps(meter, poor, NOW + 120, 2)
    assert [e.detail for e in meter.log.of_kind(_K.LOW_POWER_FACTOR)] == ["0.388"]
    assert line.set(OAD(0x3008, 5), threshold(30_000, 60, _D.DOUBLE_LONG), NOW) == DAR.SUCCESS
    steps(meter, Measurement(229.0, 14.0, 3200.0, 0.0), NOW + 240, 2)
    assert [e.detail for e in meter.log.of_kind(_K.OVERLOAD)] == ["3200.0 W"]
    idle = Measurement(229.0, 0.1, 5.0, 20.0)  # a power factor of no load means nothing
    steps(meter, idle, NOW + 360, 3)
    assert len(meter.log.of_kind(_K.LOW_POWER_FACTOR)) == 1


def test_a_threshold_of_the_wrong_shape_or_zero_changes_nothing() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    assert line.set(OAD(0x300C, 6), threshold(0, 60, _D.LONG), NOW) == DAR.OUT_OF_RANGE
    assert line.set(OAD(0x300C, 6), threshold(900, 60), NOW) == DAR.TYPE_MISMATCH
    assert line.set(OAD(0x300C, 6), threshold(900, 60, _D.LONG), NOW) == DAR.SUCCESS
    assert line.get(OAD(0x300C, 6), NOW) == threshold(900, 60, _D.LONG)
    saved = meter.management.store.get("parameters")
    assert saved is not None  # stored with the others: it outlives a power loss


def test_the_events_are_reported_under_their_objects_and_the_station_alerts_on_them() -> None:
    kinds = {
        0x3007: OperationalKind.POWER_REVERSAL,
        0x3008: OperationalKind.OVERLOAD,
        0x300C: OperationalKind.LOW_POWER_FACTOR,
        0xFF26: OperationalKind.FREQUENCY_DEVIATION,
        0xFF27: OperationalKind.VOLTAGE_THD,
        0xFF28: OperationalKind.CURRENT_THD,
    }
    for oi, kind in kinds.items():
        assert operational_kind(oi, "x") == kind
        assert any(kind in rule.kinds for rule in OPERATIONAL_RULES), kind
    meter = running_meter(config=UNPROTECTED)
    steps(meter, Measurement(229.0, 8.0, 1800.0, 0.0, frequency=50.8), NOW, 2)
    reported = meter.log.take_unreported()
    assert _K.FREQUENCY_DEVIATION in {entry.kind for entry in reported}
    assert _K.FREQUENCY_DEVIATION.oi == 0xFF26
