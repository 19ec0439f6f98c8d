"""Harmonics in the assembled meter: in waveform mode the metering chip reports THD and the
content of each order to the 41st, and registers fundamental and harmonic active energy apart;
a DL/T 698.45 client reads them (200B-200E, 400E, 0110-0220); profile mode answers NULL."""

from __future__ import annotations

import math

import pytest

from wattguard.errors import DecodeError
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.metering.harmonics import HarmonicContent, HarmonicEnergy
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.simulation.waveform import Waveform
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter, running_meter

UNPROTECTED = MeterConfig(protected=False)
WAVE = Waveform(voltage=230.0, voltage_harmonics={3: 0.01, 5: 0.03, 7: 0.02},
                current_harmonics={3: 0.25, 5: 0.12, 7: 0.06, 21: 0.02, 41: 0.01})  # fmt: skip
P, Q = 1900.0, 400.0
HOUR = 3600.0


def waveform_meter(minutes: int = 60, wave: Waveform = WAVE) -> Meter:
    meter = new_meter(config=UNPROTECTED)
    meter.power_up(T0)
    v, i = wave.window(P, Q)
    for minute in range(1, minutes + 1):
        meter.measure_waveform(v, i, wave.sample_rate, T0 + 60 * minute, seconds=60.0)
    return meter


def longs(data: Data) -> list[int]:
    assert data.type == DataType.ARRAY
    return [item.value for item in data.value]


def test_thd_and_the_content_of_each_order_read_out() -> None:
    meter = waveform_meter(5)
    line = Line(meter)
    voltage_thd = 100 * math.sqrt(0.01**2 + 0.03**2 + 0.02**2)
    current_thd = 100 * math.sqrt(0.25**2 + 0.12**2 + 0.06**2 + 0.02**2 + 0.01**2)
    assert longs(line.get(OAD(0x200B, 2))) == [round(voltage_thd * 100)]
    assert longs(line.get(OAD(0x200C, 2))) == [round(current_thd * 100)]
    content = longs(line.get(OAD(0x200D, 2)))
    assert len(content) == 41  # [total, orders 2..41]
    assert content[0] == round(voltage_thd * 100)
    assert {order: content[order - 1] for order in (3, 5, 7)} == {3: 100, 5: 300, 7: 200}
    assert sum(content[1:]) == 600  # no other order
    current = longs(line.get(OAD(0x200E, 2)))
    assert {h: current[h - 1] for h in (3, 5, 7, 21, 41)} == {3: 2500, 5: 1200, 7: 600,
                                                           21: 200, 41: 100}  # fmt: skip
    # one element of the array: element k is order k (element 1 the total)
    assert line.get(OAD(0x200E, 2, 5)) == Data(DataType.LONG, 1200)
    assert line.get(OAD(0x200D, 5)) == Data(DataType.UNSIGNED, 41)
    assert line.get(OAD(0x400E, 2)) == Data(DataType.UNSIGNED, 41)
    unit = line.get(OAD(0x200D, 6))
    assert unit.type == DataType.SCALER_UNIT and (unit.value.scaler, unit.value.unit) == (-2, 51)
    assert line.get(OAD(0x200D, 3)) == DAR.OBJECT_NOT_EXIST  # single phase: no phase B


def test_fundamental_and_harmonic_energy_are_registered_apart() -> None:
    meter = waveform_meter(60)
    line = Line(meter)
    harmonic_w = WAVE.harmonic_power(P, Q)
    assert 10 < harmonic_w < 20  # V_h I_h of orders 3, 5, 7 in phase
    fundamental = line.get(OAD(0x0110, 4)).value[0].value  # 0.0001 kWh
    harmonic = line.get(OAD(0x0210, 4)).value[0].value
    total = line.get(OAD(0x0010, 4)).value[0].value
    assert fundamental == pytest.approx(P * 10, abs=2)  # 1.9 kWh
    assert harmonic == pytest.approx(harmonic_w * 10, abs=2)
    assert abs(fundamental + harmonic - total) <= 1
    assert line.get(OAD(0x0120, 2)).value[0].value == 0
    assert line.get(OAD(0x0220, 2)).value[0].value == 0
    assert longs(line.get(OAD(0x0110, 2)))[0] == 190  # 0.01 kWh


def test_a_load_that_injects_harmonics_registers_reverse_harmonic_energy() -> None:
    rectifier = Waveform(
        voltage_harmonics=WAVE.voltage_harmonics,
        current_harmonics=WAVE.current_harmonics,
        harmonic_angle=math.pi,
    )
    meter = waveform_meter(60, rectifier)
    line = Line(meter)
    assert line.get(OAD(0x0210, 4)).value[0].value == 0
    assert line.get(OAD(0x0220, 4)).value[0].value == pytest.approx(
        -rectifier.harmonic_power(P, Q) * 10, abs=2
    )


def test_profile_mode_answers_null_harmonics_and_all_energy_is_fundamental() -> None:
    meter = running_meter(config=UNPROTECTED)
    line = Line(meter)
    assert line.get(OAD(0x200B, 2)) == Data.array(Data(DataType.NULL))
    assert all(item.type == DataType.NULL for item in line.get(OAD(0x200D, 2)).value)
    assert line.get(OAD(0x0110, 2)) == line.get(OAD(0x0010, 2))
    assert longs(line.get(OAD(0x0210, 2))) == [0] * 5


def test_an_open_relay_leaves_the_supply_distortion_and_no_current() -> None:
    meter = waveform_meter(2)
    line = Line(meter)
    trip = Data.array(Data.structure(Data(DataType.OAD, OAD(0xF205, 2, 1)),
                      Data(DataType.UNSIGNED, 0), Data(DataType.LONG_UNSIGNED, 0),
                      Data(DataType.BOOL, False)))  # fmt: skip
    assert line.action(OMD(0x8000, 129), trip, T0 + 180) == DAR.SUCCESS
    before = meter.management.registers.forward_active[0]
    v, i = WAVE.window(P, Q)
    for minute in range(4, 10):
        meter.measure_waveform(v, i, WAVE.sample_rate, T0 + 60 * minute, seconds=60.0)
    assert meter.management.registers.forward_active[0] == before
    assert longs(line.get(OAD(0x200D, 2)))[4] == 300  # the supply is still distorted
    assert set(longs(line.get(OAD(0x200E, 2)))) == {0}  # no current at all
    assert line.get(OAD(0x2001, 2)).value[0] == Data(DataType.DOUBLE_LONG, 0)


def test_a_waveform_below_the_critical_voltage_is_a_power_down() -> None:
    meter = waveform_meter(2)
    v, i = Waveform(voltage=100.0).window(400.0, 0.0)
    meter.measure_waveform(v, i, WAVE.sample_rate, T0 + 180, seconds=60.0)
    assert not meter.powered


def test_malformed_harmonic_payloads_are_refused() -> None:
    with pytest.raises(DecodeError):
        HarmonicContent.from_bytes(b"\x02\x01\x01\x00")
    good = HarmonicContent((3.0, 1.0), (25.0, 12.0)).to_bytes()
    assert HarmonicContent.from_bytes(good) == HarmonicContent((3.0, 1.0), (25.0, 12.0))
    energy = HarmonicEnergy(2)
    energy.accumulate(100.0, -5.0, 60.0, 1)
    decoded = HarmonicEnergy.from_bytes(energy.to_bytes(), 2)
    assert decoded.harmonic.reverse_active == [300.0, 300.0, 0.0]
    with pytest.raises(DecodeError):
        HarmonicEnergy.from_bytes(energy.to_bytes(), 4)
