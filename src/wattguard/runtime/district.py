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


class District:
    """Wire ``total`` (a meter at the transformer) into ``net``; ``losses`` is the share of the
    supplied energy lost in the network (lines, connections)."""

    def __init__(
        self, net: Neighbourhood, total: Meter, *, losses: float = 0.03, voltage: float = 230.0
    ) -> None:
        if not 0 <= losses < 0.5:
            raise ConfigError("a district's technical losses are a share in [0, 0.5)")
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

    def _step_total(self, now: float) -> None:
        if self._true is None:
            return
        p, q = self._true
        scale = 1.0 / (1.0 - self.losses)
        active = float(p.sum()) * scale
        reactive = float(q.sum()) * scale
        current = math.hypot(active, reactive) / self.voltage
        measurement = Measurement(self.voltage, current, active, reactive)
        self.total.measure(measurement, self.net.fleet.step_seconds, now)
        self.total.handle_timer(now)
