"""The electrical side of a transformer district, for simulation: a total meter at the
transformer, technical losses, and bypasses around customers' meters.

Theory of operation. A :class:`~wattguard.runtime.simulation.Neighbourhood` steps its meters
with the power its load source gives each customer. :class:`District` stands between that
load source and the meters: it hears each customer's *true* power, lets each customer's meter
see only the part that does not flow through a bypass (:meth:`District.bypass`: a jumper
across the meter's terminals, phase and neutral both, so the meter sees a smaller but
consistent current; a customer whose relay is open draws only what a bypass carries), and
steps the *total meter* with everything the customers drew plus the district's technical
losses. Besides a bypass, a customer's meter can be made irregular in the other ways the
analytics must find: it registers a few per cent off (:meth:`District.misregister`), part of
the load is hidden at some hours of the day only (:meth:`District.bypass_hours`, an evening
theft), or it breaks and registers nothing from a time on (:meth:`District.break_meter`)
while the customer goes on drawing. The total meter is one more meter on the terminal's power line,
read like the others; the station's :class:`~wattguard.station.balance.EnergyBalance` compares
it with the sum of the customers' meters.

The network. The customers hang on ``feeders`` low-voltage feeders, shared out evenly in an
order drawn from the district's seed (:attr:`District.feeder`, the network record a utility
keeps; the station never reads it). The technical loss is the feeders' I^2 R: k * sum over
feeders of (feeder power)^2, plus a constant no-load tenth, so it grows with the square of the
load (a few per cent on average, more at the evening peak, less at night). k is the one
resistance of the district: set so that ``losses`` of the supply is lost on average, from the
loads of the first simulated day (while that day runs, from the loads so far), then fixed.
Each customer's meter sees the voltage of its connection: the transformer's secondary (the
rated voltage, moved by a slow medium-voltage variation and by the transformer's own drop
with the district's load) minus its feeder's drop, which the same k gives (a feeder carrying
P loses k P^2, a fraction k P, and that fraction is the relative drop at its end) times the
customer's place along the feeder, minus the drop in its own service cable, plus the meter's
offset and noise. So the customers of one feeder see their voltages move together: the
station can tell the feeders from the voltage curves (analytics.topology).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError
from wattguard.meter.device import Meter
from wattguard.meter.metering.module import Measurement
from wattguard.runtime.simulation import Neighbourhood
from wattguard.simulation.fleet import LoadSource

__all__ = ["District"]

Powers = NDArray[np.float64]
#: Low-voltage feeders in a district, and the share of its loss that does not vary with load.
FEEDERS = 3
NO_LOAD = 0.1


class District:
    """Wire ``total`` (a meter at the transformer) into ``net``; ``losses`` is the share of the
    supplied energy lost in the network on average (lines, connections), on ``feeders``
    low-voltage feeders drawn from ``seed``."""

    def __init__(
        self,
        net: Neighbourhood,
        total: Meter,
        *,
        losses: float = 0.03,
        voltage: float = 230.0,
        feeders: int = FEEDERS,
        seed: int = 0,
    ) -> None:
        if not 0 <= losses < 0.5:
            raise ConfigError("a district's technical losses are a share in [0, 0.5)")
        if feeders < 1:
            raise ConfigError("a district has at least one feeder")
        if total.address in net.meters:
            raise ConfigError(f"meter {total.address.hex()} is already a customer of this district")
        self.net = net
        self.total = total
        self.losses = losses
        self.voltage = voltage
        self.customers = list(net.fleet.meters)
        self._bypassed = np.zeros(len(self.customers))
        self._hours = np.zeros(len(self.customers))  # share hidden in [start, end) UTC hours
        self._window = (17.0, 23.0)
        self._gain = np.ones(len(self.customers))  # registered / seen by a working meter
        self._broken_from = np.full(len(self.customers), math.inf)
        self._true: tuple[Powers, Powers] | None = None
        self._load: LoadSource = net.fleet.load
        net.fleet.load = self._seen
        rng = np.random.default_rng([seed, 2])
        count = len(self.customers)
        self.feeders = feeders
        # the network record: customers shared out evenly, as a planner spreads the load
        self.feeder = rng.permutation(np.arange(count) % feeders)
        self._position = rng.uniform(0.2, 1.0, count)  # place along the feeder
        self._service = rng.uniform(0.001, 0.003, count) / 1000.0  # relative drop per W
        self._offset = rng.normal(0.0, 0.002, count)  # each meter's own voltage error
        self._noise = np.random.default_rng([seed, 3])
        self._medium = 0.0  # the medium-voltage side's slow variation (relative)
        self._resistance: float | None = None  # k, fixed after the first day
        self._sums = np.zeros(3)  # (served, feeders' squares, steps) while calibrating
        self._started: float | None = None
        net.fleet.voltage = self._voltages
        net.terminal.add_meter(total.address)
        net.meters[total.address] = total
        net.on_step.append(self._step_total)
        if net.fleet.now is not None:
            total.power_up(net.fleet.now)

    def bypass(self, customer: bytes, share: float) -> None:
        """From now on ``share`` of ``customer``'s power flows around its meter (0: none)."""
        if not 0 <= share <= 1:
            raise ConfigError("a bypassed share is in [0, 1]")
        self._bypassed[self._index(customer)] = share

    def bypass_hours(
        self, customer: bytes, share: float, start: float = 17.0, end: float = 23.0
    ) -> None:
        """From now on ``share`` of ``customer``'s power flows around its meter between the
        UTC hours ``start`` and ``end`` only (a theft switched in for the evening). The window
        is the district's, one for all its customers."""
        if not 0 <= share <= 1 or not 0 <= start < end <= 24:
            raise ConfigError("a share in [0, 1], hours 0 <= start < end <= 24")
        self._hours[self._index(customer)] = share
        self._window = (start, end)

    def misregister(self, customer: bytes, error: float) -> None:
        """``customer``'s meter registers ``1 + error`` times the energy through it."""
        if not -0.5 < error < 0.5:
            raise ConfigError("a meter error is a share in (-0.5, 0.5)")
        self._gain[self._index(customer)] = 1.0 + error

    def break_meter(self, customer: bytes, since: float) -> None:
        """From ``since`` (UNIX time) on, ``customer``'s meter registers nothing while the
        customer still draws through it."""
        self._broken_from[self._index(customer)] = since

    def _index(self, customer: bytes) -> int:
        addresses = [meter.address for meter in self.customers]
        if customer not in addresses:
            raise ConfigError(f"meter {customer.hex()} is no customer of this district")
        return addresses.index(customer)

    @property
    def supplied_kwh(self) -> float:
        """What the transformer supplied so far, as its total meter registered it."""
        return self.total.management.registers.forward_active[0] / 3.6e6

    def _seen(self, now: float, seconds: float) -> tuple[Powers, Powers]:
        p, q = self._load(now, seconds)
        hour = now % 86400.0 / 3600.0
        hidden = self._bypassed
        if self._window[0] <= hour < self._window[1]:
            hidden = np.minimum(1.0, hidden + self._hours)
        kept = 1.0 - hidden
        # What the transformer supplies: a customer whose relay is open draws nothing through
        # its meter, but a bypass (a jumper around the meter, so around its relay too) still
        # draws its share.
        supplying = np.array([meter.management.relay.supplying for meter in self.customers])
        drawn = kept * supplying + hidden
        self._true = (p * drawn, q * drawn)
        registered = kept * self._gain * (now < self._broken_from)
        return p * registered, q * registered

    def _calibrate(self, now: float, served: float, squares: float) -> None:
        """Add one step's loads to the first day's calibration of k and the typical load."""
        if self._resistance is not None:
            return
        if self._started is None:
            self._started = now
        self._sums += (served, squares, 1.0)
        if now - self._started >= 86400.0:
            self._resistance = self._k()

    def _k(self) -> float:
        """The district's resistance term k (1/W): ``losses`` of the supply on average."""
        if self._resistance is not None:
            return self._resistance
        served, squares, _ = self._sums
        share = self.losses / (1.0 - self.losses) * (1.0 - NO_LOAD)
        return float(share * abs(served) / squares) if squares > 0 else 0.0

    def _typical(self) -> float:
        """The district's mean load (W) over the calibration day (so far)."""
        served, _, steps = self._sums
        return max(abs(served) / steps, 1.0) if steps else 1.0

    def loss_power(self, p: Powers) -> float:
        """The network's technical loss (W) for the customers' true active powers ``p``:
        the feeders' I^2 R and the no-load part."""
        return self._loss(self._squares(p))

    def _squares(self, p: Powers) -> float:
        """The sum over feeders of (feeder power)^2 for the customers' powers ``p``."""
        flows = np.bincount(self.feeder, weights=p, minlength=self.feeders)
        return float((flows**2).sum())

    def _loss(self, squares: float) -> float:
        no_load = self.losses / (1.0 - self.losses) * NO_LOAD * self._typical()
        return self._k() * squares + no_load

    def _voltages(self, now: float, p: Powers) -> Powers:
        """Each customer meter's voltage (V): the secondary's, minus its feeder's drop at its
        place along it and its service cable's drop, plus the meter's offset and noise."""
        true = p if self._true is None else self._true[0]
        flows = np.bincount(self.feeder, weights=true, minlength=self.feeders)
        rho = 0.999  # the medium-voltage side moves slowly (minutes to hours)
        self._medium = rho * self._medium + float(
            self._noise.normal(0.0, 0.01 * math.sqrt(1.0 - rho**2))
        )
        secondary = 1.0 + self._medium - 0.005 * float(true.sum()) / self._typical()
        relative = (
            secondary
            - self._k() * flows[self.feeder] * self._position
            - self._service * true
            + self._offset
            + self._noise.normal(0.0, 0.001, true.size)
        )
        return np.asarray(np.round(self.voltage * relative, 1))

    def _step_total(self, now: float) -> None:
        if self._true is None:
            return
        p, q = self._true
        served = float(p.sum())
        squares = self._squares(p)  # once a step: the calibration and the loss share it
        self._calibrate(now, served, squares)
        lost = self._loss(squares)
        active = served + lost
        reactive = float(q.sum()) / (1.0 - self.losses)  # the lines' reactance, roughly
        current = math.hypot(active, reactive) / self.voltage
        measurement = Measurement(self.voltage, current, active, reactive)
        self.total.measure(measurement, self.net.fleet.step_seconds, now)
        self.total.handle_timer(now)
