"""Waveform mode: sampled voltage and current for a meter's metering chip.

:class:`Waveform` synthesises one window (10 cycles by default, the metrology's basic window)
of a supply and a load: the supply's RMS voltage with its harmonic distortion, and the current
a load drawing active power P and reactive power Q at the fundamental, with harmonic currents
of its own. Harmonic h of the voltage and of the current are given as a share of their
fundamentals; the current's harmonic h lags the voltage's by ``harmonic_angle`` (0: the load
absorbs harmonic power, pi: it injects it, as a rectifier load does). The numbers the chip
should measure are known in advance, so a test can check the metering and the DL/T 698.45
read-out against them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError

__all__ = ["HOUSEHOLD_CURRENT", "SUPPLY_VOLTAGE", "Waveform"]

F64 = NDArray[np.float64]

#: A distribution network's voltage distortion: 5th 3 %, 7th 2 %, 3rd 1 % (within EN 50160).
SUPPLY_VOLTAGE: Mapping[int, float] = {3: 0.01, 5: 0.03, 7: 0.02}
#: A household's electronic loads: odd harmonics falling with their order.
HOUSEHOLD_CURRENT: Mapping[int, float] = {3: 0.25, 5: 0.12, 7: 0.06, 9: 0.03, 11: 0.02}


@dataclass(frozen=True, slots=True)
class Waveform:
    """A supply and a load, sampled (see the module docstring)."""

    voltage: float = 230.0
    frequency: float = 50.0
    sample_rate: float = 12_800.0
    cycles: int = 10
    voltage_harmonics: Mapping[int, float] = field(default_factory=lambda: dict(SUPPLY_VOLTAGE))
    current_harmonics: Mapping[int, float] = field(default_factory=lambda: dict(HOUSEHOLD_CURRENT))
    harmonic_angle: float = 0.0

    def __post_init__(self) -> None:
        highest = max((*self.voltage_harmonics, *self.current_harmonics), default=1)
        if self.sample_rate / 2 <= highest * self.frequency or self.cycles < 10:
            raise ConfigError("a window holds 10 cycles sampled above twice its highest order")

    def fundamental_voltage(self) -> float:
        """The RMS of the voltage's fundamental (``voltage`` is the RMS of the whole wave)."""
        return self.voltage / math.sqrt(1 + sum(a * a for a in self.voltage_harmonics.values()))

    def window(self, active: float, reactive: float) -> tuple[F64, F64]:
        """(voltage, current) samples of one window with P = ``active`` and Q = ``reactive``
        at the fundamental."""
        n = round(self.cycles * self.sample_rate / self.frequency)
        t = np.arange(n) / self.sample_rate
        w = 2 * math.pi * self.frequency
        v1 = self.fundamental_voltage()
        i1 = math.hypot(active, reactive) / v1
        lag = math.atan2(reactive, active)  # the current lags by phi (inductive: Q > 0)
        root2 = math.sqrt(2)
        v = root2 * v1 * np.sin(w * t)
        i = root2 * i1 * np.sin(w * t - lag)
        for order, share in self.voltage_harmonics.items():
            v += root2 * v1 * share * np.sin(order * w * t)
        for order, share in self.current_harmonics.items():
            i += root2 * i1 * share * np.sin(order * w * t - self.harmonic_angle)
        return v, i

    def harmonic_power(self, active: float, reactive: float) -> float:
        """The active power the harmonics carry in :meth:`window` (the sum of V_h I_h cos)."""
        v1 = self.fundamental_voltage()
        i1 = math.hypot(active, reactive) / v1
        return sum(
            v1 * self.voltage_harmonics[h] * i1 * share * math.cos(self.harmonic_angle)
            for h, share in self.current_harmonics.items()
            if h in self.voltage_harmonics
        )
