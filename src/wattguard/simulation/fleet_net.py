"""One terminal's HPLC network with lazy meters and assembled meters side by side.

Theory of operation. A :class:`FleetNet` is a discrete-event loop over sans-IO cores, like
:class:`wattguard.runtime.simulation.Neighbourhood`, for a terminal whose archive holds meters
of both kinds: most are columns of a :class:`~wattguard.simulation.lazy_fleet.LazyFleet`
answered by a :class:`~wattguard.simulation.lazy_server.LazyServer`, a few are assembled
:class:`~wattguard.meter.device.Meter` objects (waveform mode, Bluetooth, upgrades: the ones a
test or demo looks at closely) stepped by a :class:`~wattguard.simulation.fleet.MeterFleet`.
The terminal cannot tell them apart: both answer the frames it sends down the channel with
frames, under their ESAM's MAC.

The next thing to happen is the earliest of a frame arriving on the channel, a timer of the
terminal, and the assembled meters' next metering step. The lazy meters have no step: they are
advanced when a frame reaches them. What the terminal sends towards the station goes to
``upstream``; what the station answers comes back through :meth:`FleetNet.from_upstream`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from wattguard.meter.device import Meter
from wattguard.network.hplc import Direction, HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.simulation.fleet import LoadSource, MeterFleet
from wattguard.simulation.lazy_server import LazyServer

__all__ = ["FleetNet"]

_MAX_EVENTS = 50_000_000


class FleetNet:
    """A terminal, its lazy and assembled meters and the channel between them (see the
    module docstring). ``load`` drives the assembled meters (None: there are none)."""

    def __init__(
        self,
        terminal: Terminal,
        channel: HplcChannel,
        lazy: LazyServer,
        meters: Sequence[Meter] = (),
        load: LoadSource | None = None,
        *,
        step: float = 60.0,
        upstream: Callable[[bytes], None] | None = None,
    ) -> None:
        self.terminal = terminal
        self.channel = channel
        self.lazy = lazy
        self.meters = {meter.address: meter for meter in meters}
        self.fleet = MeterFleet(meters, load, step=step) if meters and load else None
        self.upstream = upstream
        self.now = terminal.start
        self._inbox: deque[bytes] = deque()
        self._handling = False

    def power_up(self, now: float) -> None:
        """Power the assembled meters up at ``now``."""
        self.now = now
        if self.fleet is not None:
            self.fleet.power_up(now)

    def connected(self, now: float) -> None:
        """The link to the station is up: the terminal logs in (through ``upstream``)."""
        self.terminal.connected(now)
        self._flush()

    def from_upstream(self, data: bytes) -> None:
        """Bytes from the station (``b""``: the link went down), handled in order."""
        self._inbox.append(data)
        if self._handling:
            return
        self._handling = True
        try:
            while self._inbox:
                self.terminal.receive_data(self._inbox.popleft(), self.now)
                self._flush()
        finally:
            self._handling = False

    def run_until(self, end: float) -> None:
        """Run every event up to ``end``."""
        for _ in range(_MAX_EVENTS):
            when = min((t for t in self._timers() if t is not None), default=end + 1)
            if when > end:
                self.now = end
                self.terminal.handle_timer(end)
                self._flush()
                return
            self.now = max(self.now, when)
            self._advance(self.now)
        raise RuntimeError("the simulation made no progress (a component keeps rescheduling)")

    def _timers(self) -> tuple[float | None, ...]:
        fleet = self.fleet
        step = None if fleet is None or fleet.now is None else fleet.now + fleet.step_seconds
        return self.channel.get_timer(), self.terminal.get_timer(), step

    def _advance(self, now: float) -> None:
        self.channel.handle_timer(now)
        while (delivery := self.channel.next_event()) is not None:
            if delivery.direction == Direction.UP:
                self.terminal.receive_hplc(delivery.address, delivery.data, now)
                continue
            meter = self.meters.get(delivery.address)
            if meter is not None:
                meter.receive_data(delivery.data, now)
                continue
            for frame in self.lazy.receive(delivery.data, now):
                self.channel.send(Direction.UP, delivery.address, frame, now)
        fleet = self.fleet
        if fleet is not None and fleet.now is not None and fleet.now + fleet.step_seconds <= now:
            fleet.step()
        self.terminal.handle_timer(now)
        self._flush()

    def _flush(self) -> None:
        for address, meter in self.meters.items():
            answer = meter.data_to_send()
            if answer:
                self.channel.send(Direction.UP, address, answer, self.now)
        out = self.terminal.data_to_send()
        if out and self.upstream is not None:
            self.upstream(out)
