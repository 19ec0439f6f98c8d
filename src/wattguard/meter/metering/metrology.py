"""Waveform metrology of the metering chip: RMS, powers, power factor, frequency, harmonics.

Theory of operation. The metering module samples each phase's voltage and current at a fixed
rate. Every 10 cycles of the *measured* frequency (200 ms at 50 Hz: the basic window of
IEC 61000-4-7) it computes, per phase:

* frequency, from interpolated positive-going zero crossings of the voltage;
* RMS voltage and current, active power P = mean(v i) and apparent power S = Vrms Irms over
  the window;
* the DFT of the window, whose bin 10h is harmonic h (window = 10 cycles, so bins are 5 Hz);
  harmonic *groups* per IEC 61000-4-7 clause 5.6 (the bin of the harmonic, the four bins each
  side, and half the bins five away), up to the 41st; THD from the groups 2..41;
* reactive power Q as the sum over harmonics of V_h I_h sin(phi_v - phi_i) (positive when
  the current lags: inductive), and power factor P / S;
* the fundamental active power P_1 = V_1 I_1 cos(phi_v1 - phi_i1) from bin 10; what the
  harmonics carry is P - P_1 (registered apart as harmonic active energy, objects 0210/0220).

The window is cut to the integer number of samples nearest 10 cycles; the residual leakage is
below the class limits that ``bench/metering.py`` checks. Inputs are numpy arrays; nothing
here keeps state between windows (the energy registers do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError

__all__ = ["MAX_HARMONIC", "PhaseMeasurement", "analyse_window", "estimate_frequency"]

MAX_HARMONIC = 41
CYCLES_PER_WINDOW = 10

Samples = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PhaseMeasurement:
    """One phase over one 10-cycle window. Harmonic arrays are indexed by order (index 0
    unused, 1 the fundamental); values are RMS."""

    frequency: float
    voltage: float
    current: float
    active_power: float
    reactive_power: float
    apparent_power: float
    power_factor: float
    voltage_harmonics: Samples
    current_harmonics: Samples
    voltage_thd: float
    current_thd: float
    samples: int
    fundamental_power: float = 0.0


def estimate_frequency(signal: Samples, sample_rate: float) -> float:
    """Frequency from the positive-going zero crossings, interpolated between samples."""
    x = np.asarray(signal, dtype=np.float64) - float(np.mean(signal))
    below = x[:-1] < 0
    crossing = np.nonzero(below & (x[1:] >= 0))[0]
    if len(crossing) < 2:
        raise ConfigError("fewer than two zero crossings: the window is too short or flat")
    fraction = -x[crossing] / (x[crossing + 1] - x[crossing])
    times = (crossing + fraction) / sample_rate
    return float((len(times) - 1) / (times[-1] - times[0]))


def _groups(spectrum: Samples, harmonics: int) -> Samples:
    """Harmonic group RMS values (IEC 61000-4-7 clause 5.6, 10-cycle window, 50 Hz)."""
    power = spectrum**2
    groups = np.zeros(harmonics + 1)
    for order in range(1, harmonics + 1):
        centre = CYCLES_PER_WINDOW * order
        low, high = centre - 5, centre + 5
        if high >= len(power):
            break
        groups[order] = np.sqrt(0.5 * power[low] + power[low + 1 : high].sum() + 0.5 * power[high])
    return groups


def analyse_window(
    voltage: Samples,
    current: Samples,
    sample_rate: float,
    *,
    frequency: float | None = None,
    harmonics: int = MAX_HARMONIC,
) -> PhaseMeasurement:
    """Measure one phase from at least 10 cycles of simultaneous voltage and current samples.

    ``frequency`` may be given (a three-phase meter estimates it once, on one phase);
    otherwise it is estimated from ``voltage``.
    """
    v = np.asarray(voltage, dtype=np.float64)
    i = np.asarray(current, dtype=np.float64)
    if v.shape != i.shape or v.ndim != 1:
        raise ConfigError("voltage and current must be equal-length 1-D sample arrays")
    f = estimate_frequency(v, sample_rate) if frequency is None else frequency
    n = round(CYCLES_PER_WINDOW * sample_rate / f)
    if n > len(v):
        raise ConfigError(f"10 cycles at {f:.3f} Hz need {n} samples, {len(v)} given")
    if sample_rate / 2 <= harmonics * f:
        raise ConfigError(f"{sample_rate} samples/s cannot resolve harmonic {harmonics}")
    v, i = v[:n], i[:n]
    v_rms = float(np.sqrt(np.mean(v * v)))
    i_rms = float(np.sqrt(np.mean(i * i)))
    p = float(np.mean(v * i))
    s = v_rms * i_rms
    # One-sided RMS spectrum: |X_k| * sqrt(2) / n for k > 0.
    v_fft = np.fft.rfft(v)
    i_fft = np.fft.rfft(i)
    scale = np.sqrt(2.0) / n
    v_spectrum = np.abs(v_fft) * scale
    i_spectrum = np.abs(i_fft) * scale
    orders = CYCLES_PER_WINDOW * np.arange(1, harmonics + 1)
    orders = orders[orders < len(v_fft)]
    q = float(
        np.sum(
            v_spectrum[orders]
            * i_spectrum[orders]
            * np.sin(np.angle(v_fft[orders]) - np.angle(i_fft[orders]))
        )
    )
    first = CYCLES_PER_WINDOW
    p1 = float(
        v_spectrum[first]
        * i_spectrum[first]
        * np.cos(np.angle(v_fft[first]) - np.angle(i_fft[first]))
    )
    v_groups = _groups(v_spectrum, harmonics)
    i_groups = _groups(i_spectrum, harmonics)
    return PhaseMeasurement(
        frequency=f,
        voltage=v_rms,
        current=i_rms,
        active_power=p,
        reactive_power=q,
        apparent_power=s,
        power_factor=p / s if s else 1.0,
        voltage_harmonics=v_groups,
        current_harmonics=i_groups,
        voltage_thd=_thd(v_groups),
        current_thd=_thd(i_groups),
        samples=n,
        fundamental_power=p1,
    )


def _thd(groups: Samples) -> float:
    if groups[1] == 0:
        return 0.0
    return float(np.sqrt(np.sum(groups[2:] ** 2)) / groups[1])
