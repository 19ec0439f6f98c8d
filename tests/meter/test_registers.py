from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters, Quadrant
from wattguard.protocol import Data, DataType


def test_one_kwh_forward_in_tariff_two() -> None:
    registers = EnergyRegisters(tariffs=4)
    for _ in range(18_000):  # one hour of 200 ms windows at 1 kW
        registers.accumulate(1000.0, 0.0, 0.2, tariff=2)
    assert registers.to_data(0x0010) == Data.array(
        *[Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in (100, 0, 100, 0, 0)]
    )
    high = registers.to_data(0x0010, attribute=4)
    assert high.value[0] == Data(DataType.LONG64_UNSIGNED, 10_000)
    assert registers.to_data(0x0020).value[0].value == 0


def test_quadrants_and_combinations() -> None:
    registers = EnergyRegisters(tariffs=1)
    cases = [
        (100, 50, Quadrant.Q1),
        (-100, 50, Quadrant.Q2),
        (-100, -50, Quadrant.Q3),
        (100, -50, Quadrant.Q4),
    ]
    for p, q, quadrant in cases:
        assert Quadrant.of(p, q) == quadrant
        registers.accumulate(p, q, 3600.0, tariff=1)
    for oi in (0x0050, 0x0060, 0x0070, 0x0080):
        assert registers.register(oi)[0] == pytest.approx(50 * 3600)
    assert registers.register(0x0010)[0] == pytest.approx(200 * 3600)
    assert registers.register(0x0020)[0] == pytest.approx(200 * 3600)
    assert registers.register(0x0000)[0] == pytest.approx(400 * 3600)
    assert registers.register(0x0030)[0] == pytest.approx(100 * 3600)  # I + II
    assert registers.register(0x0040)[0] == pytest.approx(100 * 3600)  # III + IV


@given(st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(0, 5), st.integers(1, 4)), max_size=50))
def test_total_is_the_sum_of_the_tariffs(windows: list[tuple[float, float, int]]) -> None:
    registers = EnergyRegisters()
    for power, seconds, tariff in windows:
        registers.accumulate(power, -power / 2, seconds, tariff)
    for oi in (0x0010, 0x0020, 0x0050, 0x0070, 0x0080):
        values = registers.register(oi)
        assert values[0] == pytest.approx(sum(values[1:]), abs=1e-6)
        assert all(v >= 0 for v in values)


def test_bad_use_is_refused() -> None:
    registers = EnergyRegisters(tariffs=2)
    with pytest.raises(ConfigError, match="tariff 3"):
        registers.accumulate(1, 0, 1, tariff=3)
    with pytest.raises(ConfigError, match="backwards"):
        registers.accumulate(1, 0, -1, tariff=1)
    with pytest.raises(ConfigError, match="not an energy register"):
        registers.register(0x2000)
    with pytest.raises(ConfigError):
        EnergyRegisters(tariffs=0)
    with pytest.raises(ConfigError, match="whole number"):
        DemandMeter(period=100, slide=60)


def test_sliding_demand_finds_the_peak() -> None:
    demand = DemandMeter(period=900, slide=60)
    now = 0.0
    # 30 minutes at 2 kW, then 15 minutes at 5 kW, then back to 2 kW.
    for minute in range(60):
        power = 5000.0 if 30 <= minute < 45 else 2000.0
        for _ in range(60):
            now += 1
            demand.accumulate(power, 1.0, tariff=1 if minute < 40 else 2, now=now)
    peak, when = demand.maximum[("forward", 0)]
    assert peak == pytest.approx(5000.0)
    assert when == pytest.approx(45 * 60)
    assert demand.maximum[("forward", 2)][0] == pytest.approx(5000.0)
    assert demand.current == pytest.approx(2000.0)
