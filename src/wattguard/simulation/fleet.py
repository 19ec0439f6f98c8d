"""A fleet of assembled meters stepping through virtual time together.

Each step a load source gives every meter's active and reactive power (numpy arrays, one
entry per meter, e.g. from the profile-mode load models); the fleet turns them into
measurements (voltage with a little spread around the rated value, current = S / V), feeds
each meter its measurement and runs its timers (``handle_timer``) at the same moment: the
meters' timers ride on the metering step, so a delayed relay operation or a freeze falls due
at the first step at or after its time. Time is an argument: a day of a thousand meters runs
as fast as the machine allows, or the runtime paces it against the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from wattguard.meter.device import Meter
from wattguard.meter.metering.module import Measurement

__all__ = ["LoadSource", "MeterFleet", "VoltageSource"]

#: (now, seconds) -> (active W, reactive var), one entry per meter.
LoadSource = Callable[[float, float], tuple[NDArray[np.float64], NDArray[np.float64]]]
#: (now, active W per meter) -> volts per meter: the network's voltage at each meter.
VoltageSource = Callable[[float, NDArray[np.float64]], NDArray[np.float64]]


class MeterFleet:
    """Assembled meters stepped through virtual time together, each drawing the power its
    load source gives it (waveform-free: the metering module is handed a measurement).

    Each meter sees the rated voltage with a little spread, unless a :data:`VoltageSource`
    is set (``voltage``): a network model (a district's feeders, runtime/district.py) then
    gives each meter the voltage at its connection."""

    def __init__(
        self,
        meters: Sequence[Meter],
        load: LoadSource,
        *,
        step: float = 60.0,
        rated_voltage: float = 220.0,
        seed: int = 0,
    ) -> None:
        self.meters = list(meters)
        self.by_address = {meter.address: meter for meter in self.meters}
        self.load = load
        self.step_seconds = step
        self.rated_voltage = rated_voltage
        self._random = np.random.default_rng(seed)
        self.now: float | None = None
        self.voltage: VoltageSource | None = None

    def power_up(self, now: float) -> None:
        for meter in self.meters:
            meter.power_up(now)
        self.now = now

    def step(self) -> float:
        """Advance every meter by one step; returns the new time."""
        if self.now is None:
            raise RuntimeError("power the fleet up first")
        now = self.now + self.step_seconds
        p, q = self.load(now, self.step_seconds)
        n = len(self.meters)
        if p.shape != (n,) or q.shape != (n,):
            raise ValueError(f"the load source must give {n} powers per step")
        if self.voltage is not None:
            voltage = self.voltage(now, p)
        else:
            voltage = self.rated_voltage * (1.04 + 0.01 * self._random.standard_normal(n))
        current = np.hypot(p, q) / voltage
        for i, meter in enumerate(self.meters):
            m = Measurement(float(voltage[i]), float(current[i]), float(p[i]), float(q[i]))
            meter.measure(m, self.step_seconds, now)
            meter.handle_timer(now)
        self.now = now
        return now

    def run_until(self, end: float, progress: Callable[[float], None] | None = None) -> None:
        while self.now is not None and self.now + self.step_seconds <= end + 1e-9:
            now = self.step()
            if progress is not None:
                progress(now)
