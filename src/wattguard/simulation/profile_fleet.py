"""Profile mode: the energy registers of a whole fleet as columns, stepped a minute at a time.

Theory of operation. Where :class:`~wattguard.simulation.fleet.MeterFleet` steps assembled meters,
a :class:`ProfileFleet` keeps only what the metering chip accumulates, one column per meter:

* ``energy`` (6, tariffs + 1, n) float64 watt-seconds: forward and reverse active energy and
  reactive energy in quadrants I-IV, total (row 0) and per tariff, as
  :class:`~wattguard.meter.metering.registers.EnergyRegisters` keeps them;
* the sliding-window maximum demand of :class:`~wattguard.meter.metering.registers.DemandMeter`: the
  last ``period / 60`` minutes of signed active energy, the current demand, and per direction
  and tariff (0 = overall) the largest demand and when it occurred (NaN: none yet);
* the minute freeze: each minute's forward active energy in 0.0001 kWh (uint32, a ring of
  ``freeze_depth`` minutes, a day by default) for terminals to read later.

Each minute's powers come from a block source (:class:`~wattguard.simulation.profile.LoadModel`)
and are charged at the tariff the :class:`~wattguard.meter.expansion.module.TariffSchedule` puts in
force at the start of the minute. The arithmetic is the scalar registers' own, operation for
operation (``|P| x 60`` added to the total, then to the tariff; the demand summed oldest first),
so a column equals what an :class:`EnergyRegisters` and a :class:`DemandMeter` fed the same
minutes hold, bit for bit; :meth:`ProfileFleet.registers_of` and :meth:`ProfileFleet.demand_of`
hand one meter's state to the assembled-meter world.

A minute freeze is the difference of the truncated forward register reading (attribute 4,
0.0001 kWh) at the end and at the start of the minute, so the freezes of any stretch of
minutes add up exactly to the change of that reading: nothing is lost to rounding.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError
from wattguard.meter.expansion import TariffSchedule
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters
from wattguard.simulation.fleet import LoadSource

__all__ = ["BlockLoad", "ProfileFleet"]

F64 = NDArray[np.float64]

_MINUTE = 60.0
_FREEZE_UNIT = 360.0  # Ws in 0.0001 kWh
_FORWARD, _REVERSE = 0, 1
_QUADRANT_ROW = {1: 2, 2: 3, 3: 4, 4: 5}


class BlockLoad(Protocol):
    """What a profile fleet needs from a load model."""

    n: int

    def power(self, start: float, minutes: int) -> tuple[F64, F64]:
        """(P, Q) of shape (minutes, n) for the minutes from ``start``."""
        ...

    def source(self, meters: list[int] | None = None) -> LoadSource:
        """A MeterFleet load source for some of the meters."""
        ...


class ProfileFleet:
    """Columnar energy, demand and minute-freeze registers of ``model.n`` meters."""

    def __init__(
        self,
        model: BlockLoad,
        start: float,
        *,
        tariffs: int = 4,
        schedule: TariffSchedule | None = None,
        demand_period: float = 900.0,
        demand_slide: float = 60.0,
        freeze_depth: int = 1440,
    ) -> None:
        self.schedule = schedule or TariffSchedule()
        if not 1 <= tariffs <= 63 or max(self.schedule.periods) > tariffs:
            raise ConfigError("the schedule's tariffs must fit the meters' 1..63 tariff registers")
        if start % _MINUTE:
            raise ConfigError("a profile fleet starts on a whole minute")
        slides = demand_slide / _MINUTE
        if demand_period % demand_slide or slides != int(slides) or slides < 1:
            raise ConfigError("demand is computed on whole minutes and whole slide intervals")
        if freeze_depth < 1:
            raise ConfigError("a minute freeze holds at least one minute")
        self.model = model
        self.n = n = model.n
        self.tariffs = tariffs
        self.demand_period = demand_period
        self.demand_slide = demand_slide
        self.now = float(start)
        self.energy = np.zeros((6, tariffs + 1, n))
        self._delta = np.empty((6, n))
        window = int(demand_period // _MINUTE)
        self._window = window
        self._ring = np.zeros((2 * window, n))  # each minute written twice: a slice is in order
        self._minutes = 0  # minutes metered since start
        self._elapsed = 0.0
        self._since_slide = 0.0
        self.current_demand = np.zeros(n)
        self.max_demand = np.full((2, tariffs + 1, n), np.nan)  # [direction, tariff, meter]
        self.max_demand_time = np.full((2, tariffs + 1, n), np.nan)
        self._freeze = np.zeros((freeze_depth, n), dtype=np.uint32)
        self._reading = np.zeros(n)  # truncated forward reading, 0.0001 kWh

    # -- running ---------------------------------------------------------------------------

    def run(self, minutes: int, chunk: int = 15) -> None:
        """Meter ``minutes`` more minutes, fetching powers ``chunk`` minutes at a time."""
        left = minutes
        while left > 0:
            take = min(chunk, left)
            p, q = self.model.power(self.now, take)
            self.accumulate(p, q)
            left -= take

    def run_until(self, end: float) -> None:
        self.run(int((end - self.now) // _MINUTE))

    def accumulate(self, p: F64, q: F64) -> None:
        """Meter a block of minutes of powers, shape (minutes, n), from :attr:`now`. A block
        of the wrong shape or with a non-finite value is refused whole."""
        if p.ndim != 2 or p.shape[1] != self.n or q.shape != p.shape:
            raise ConfigError(f"a block of powers has shape (minutes, {self.n})")
        if not (np.isfinite(p).all() and np.isfinite(q).all()):
            raise ConfigError("powers must be finite numbers")
        for k in range(p.shape[0]):
            self._minute(p[k], q[k])

    def _minute(self, p: F64, q: F64) -> None:
        tariff = self.schedule.tariff(self.now)
        delta = self._delta
        e = np.abs(p) * _MINUTE
        forward = p >= 0.0
        np.multiply(e, forward, out=delta[0])  # forward active: |P| t or 0
        np.subtract(e, delta[0], out=delta[1])  # reverse active: the rest, exactly
        eq = np.abs(q) * _MINUTE
        positive = eq * (q >= 0.0)  # quadrants I and II
        np.multiply(positive, forward, out=delta[2])  # I
        np.subtract(positive, delta[2], out=delta[3])  # II
        negative = eq - positive  # quadrants III and IV
        np.multiply(negative, forward, out=delta[5])  # IV
        np.subtract(negative, delta[5], out=delta[4])  # III
        self.energy[:, 0] += delta
        self.energy[:, tariff] += delta
        self.now += _MINUTE
        self._demand(p, tariff)
        self._freeze_minute()

    def _demand(self, p: F64, tariff: int) -> None:
        """registers.DemandMeter.accumulate, a column per meter."""
        slot = self._minutes % self._window
        np.multiply(p, _MINUTE, out=self._ring[slot])
        self._ring[slot + self._window] = self._ring[slot]
        self._minutes += 1
        self._elapsed = min(self._elapsed + _MINUTE, self._window * _MINUTE)
        self._since_slide += _MINUTE
        if self._since_slide + 1e-9 < self.demand_slide or self._elapsed + 1e-9 < (
            self.demand_period
        ):
            return
        self._since_slide = 0.0
        oldest = slot + 1
        np.sum(self._ring[oldest : oldest + self._window], axis=0, out=self.current_demand)
        self.current_demand /= self._elapsed
        size = np.abs(self.current_demand)
        forward = self.current_demand >= 0.0
        for direction, chosen in ((_FORWARD, forward), (_REVERSE, ~forward)):
            for column in (0, tariff):
                best = self.max_demand[direction, column]
                better = chosen & ~(size <= np.abs(best))  # NaN (none yet) counts as beaten
                np.copyto(best, self.current_demand, where=better)
                np.copyto(self.max_demand_time[direction, column], self.now, where=better)

    def _freeze_minute(self) -> None:
        reading = np.floor_divide(self.energy[0, 0], _FREEZE_UNIT)
        row = (int(self.now // _MINUTE) - 1) % self._freeze.shape[0]
        self._freeze[row] = reading - self._reading
        self._reading = reading

    # -- reading ---------------------------------------------------------------------------

    def register(self, row: int) -> F64:
        """An energy register as (n, tariffs + 1) watt-seconds: rows 0 forward, 1 reverse,
        2-5 reactive quadrants I-IV."""
        values: F64 = self.energy[row].T
        return values

    @property
    def forward_active(self) -> F64:
        return self.register(0)

    @property
    def reverse_active(self) -> F64:
        return self.register(1)

    def reactive(self, quadrant: int) -> F64:
        if quadrant not in _QUADRANT_ROW:
            raise ConfigError("reactive quadrants are 1..4")
        return self.register(_QUADRANT_ROW[quadrant])

    def registers_of(self, meter: int) -> EnergyRegisters:
        """Meter ``meter``'s energy registers as the assembled meter keeps them."""
        column = self.energy[:, :, self._index(meter)]
        rows = [[float(v) for v in column[r]] for r in range(6)]
        reactive = {quadrant: rows[row] for quadrant, row in _QUADRANT_ROW.items()}
        return EnergyRegisters(self.tariffs, rows[0], rows[1], reactive)

    def demand_of(self, meter: int) -> DemandMeter:
        """Meter ``meter``'s maximum-demand state as a :class:`DemandMeter` that carries on."""
        i = self._index(meter)
        held = min(self._minutes, self._window)
        first = self._minutes - held
        energy = deque(
            (_MINUTE, float(self._ring[m % self._window, i])) for m in range(first, self._minutes)
        )
        demand = DemandMeter(self.demand_period, self.demand_slide, self.tariffs, energy)
        demand._elapsed = self._elapsed
        demand._since_slide = self._since_slide
        demand.current = float(self.current_demand[i])
        for direction, name in ((_FORWARD, "forward"), (_REVERSE, "reverse")):
            for column in range(self.tariffs + 1):
                value = self.max_demand[direction, column, i]
                if not np.isnan(value):
                    when = float(self.max_demand_time[direction, column, i])
                    demand.maximum[(name, column)] = (float(value), when)
        return demand

    def minute_freezes(self, start: float, count: int) -> NDArray[np.uint32]:
        """The freezes of ``count`` minutes from ``start``, shape (count, n), in 0.0001 kWh of
        forward active energy per minute. Minutes not metered yet or older than the freeze
        depth are refused."""
        first = int(start // _MINUTE)
        newest = int(self.now // _MINUTE)  # one past the last metered minute
        oldest = max(newest - self._freeze.shape[0], newest - self._minutes)
        if start % _MINUTE or count < 0 or first < oldest or first + count > newest:
            raise ConfigError("those minutes are not held in the minute freeze")
        rows = np.arange(first, first + count) % self._freeze.shape[0]
        return self._freeze[rows]

    def load(self, now: float, seconds: float) -> tuple[F64, F64]:
        """Every meter's mean powers over ``(now - seconds, now]``: a :class:`MeterFleet` load
        source for as many assembled meters as this fleet has."""
        return self.model.source()(now, seconds)

    def source(self, meters: list[int]) -> LoadSource:
        """A :class:`MeterFleet` load source for assembled meters that should see the same
        powers as ``meters`` (indices) of this fleet."""
        return self.model.source(meters)

    def nbytes(self) -> int:
        """Bytes held in the fleet's state arrays (the load model's parameters excluded)."""
        arrays = (self.energy, self._delta, self._ring, self.current_demand, self.max_demand)
        more = (self.max_demand_time, self._freeze, self._reading)
        return sum(a.nbytes for a in arrays + more)

    def _index(self, meter: int) -> int:
        if not 0 <= meter < self.n:
            raise ConfigError(f"meter index {meter} is not 0..{self.n - 1}")
        return meter
