"""Metrology on synthetic waveforms whose true values are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.meter.metering.metrology import analyse_window, estimate_frequency

RATE = 12_800.0  # 256 samples per cycle at 50 Hz


def wave(
    rms: float,
    frequency: float,
    phase_deg: float = 0.0,
    harmonics: dict[int, float] | None = None,
    cycles: float = 12,
) -> np.ndarray:
    """A sine of ``rms`` plus harmonics given as fractions of the fundamental."""
    t = np.arange(int(cycles * RATE / frequency)) / RATE
    phase = math.radians(phase_deg)
    out = rms * math.sqrt(2) * np.sin(2 * math.pi * frequency * t - phase)
    for order, fraction in (harmonics or {}).items():
        out += fraction * rms * math.sqrt(2) * np.sin(2 * math.pi * order * frequency * t)
    return out


def test_unity_power_factor() -> None:
    m = analyse_window(wave(230, 50), wave(5, 50), RATE)
    assert m.frequency == pytest.approx(50, abs=1e-3)
    assert m.voltage == pytest.approx(230, rel=1e-4)
    assert m.current == pytest.approx(5, rel=1e-4)
    assert m.active_power == pytest.approx(1150, rel=1e-4)
    assert m.reactive_power == pytest.approx(0, abs=0.5)
    assert m.power_factor == pytest.approx(1, abs=1e-4)
    assert m.samples == 2560


@pytest.mark.parametrize(
    "lag_deg, pf, sign",
    [(60.0, 0.5, 1), (-36.8699, 0.8, -1)],  # 0.5 inductive, 0.8 capacitive
)
def test_power_factor_and_reactive_sign(lag_deg: float, pf: float, sign: int) -> None:
    m = analyse_window(wave(230, 50), wave(10, 50, lag_deg), RATE)
    s = 2300.0
    assert m.active_power == pytest.approx(s * pf, rel=2e-4)
    assert m.reactive_power == pytest.approx(sign * s * math.sqrt(1 - pf * pf), rel=2e-4)
    assert m.power_factor == pytest.approx(pf, abs=2e-4)


@settings(max_examples=25, deadline=None)
@given(st.floats(49.0, 51.0), st.floats(0.05, 60.0))
def test_off_nominal_frequency_and_small_currents(frequency: float, amps: float) -> None:
    m = analyse_window(wave(230, frequency), wave(amps, frequency, 30.0), RATE)
    assert m.frequency == pytest.approx(frequency, abs=2e-3)
    assert m.voltage == pytest.approx(230, rel=1e-3)
    assert m.active_power == pytest.approx(230 * amps * math.cos(math.radians(30)), rel=2e-3)


def test_harmonic_groups_and_thd() -> None:
    v = wave(230, 50, harmonics={5: 0.10, 7: 0.05})
    i = wave(8, 50, harmonics={3: 0.20, 11: 0.04})
    m = analyse_window(v, i, RATE)
    assert m.voltage_harmonics[1] == pytest.approx(230, rel=1e-3)
    assert m.voltage_harmonics[5] == pytest.approx(23, rel=1e-3)
    assert m.voltage_harmonics[7] == pytest.approx(11.5, rel=1e-3)
    assert m.voltage_harmonics[3] == pytest.approx(0, abs=0.05)
    assert m.current_harmonics[3] == pytest.approx(1.6, rel=1e-3)
    assert m.current_harmonics[11] == pytest.approx(0.32, rel=1e-3)
    assert m.voltage_thd == pytest.approx(math.hypot(0.10, 0.05), rel=1e-3)
    assert m.current_thd == pytest.approx(math.hypot(0.20, 0.04), rel=1e-3)
    assert len(m.voltage_harmonics) == 42
    # Harmonics present in both carry power: P is the sum over orders.
    assert m.active_power == pytest.approx(230 * 8, rel=1e-3)


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match="equal-length"):
        analyse_window(wave(230, 50), wave(5, 50)[:-1], RATE)
    with pytest.raises(ConfigError, match="need 2560 samples"):
        analyse_window(wave(230, 50, cycles=5), wave(5, 50, cycles=5), RATE, frequency=50.0)
    with pytest.raises(ConfigError, match="cannot resolve harmonic"):
        analyse_window(wave(230, 50), wave(5, 50), 4000.0, frequency=50.0)
    with pytest.raises(ConfigError, match="zero crossings"):
        estimate_frequency(np.zeros(100), RATE)
