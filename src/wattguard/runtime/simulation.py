"""Virtual time for one terminal's neighbourhood: its meters, their loads, the HPLC channel.

Theory of operation. :class:`Neighbourhood` is a discrete-event loop over the sans-IO cores.
The next thing to happen is the earliest of: a frame arriving on the power line, a timer of
the terminal (a collection task, a timeout, a heartbeat), or the next metering step of the
meters (every ``step`` seconds, loads from a :data:`~wattguard.simulation.fleet.LoadSource`).
:meth:`Neighbourhood.run_until` jumps from one to the next, so a day runs as fast as the
machine allows; the asyncio runtime paces the same loop against the wall clock.

What the terminal sends towards the station is handed to ``upstream`` (bytes); what the
station answers is fed back with :meth:`Neighbourhood.from_upstream`.

With a ``radio`` (:class:`~wattguard.meter.bluetooth.concentrator.ConcentratorRadio`) the
terminal reads its meters over Bluetooth instead: the channel then stands for the radio's
timing (give it a Bluetooth :class:`~wattguard.network.hplc.LinkProfile`), each frame that
reaches a meter goes through the radio's sealed session to :meth:`Meter.receive_bluetooth`, and
the meter's answer comes back up the channel, and so do the notifications the meter seals
for the radio (its active reports, :meth:`Meter.bluetooth_to_send`). A frame the
meter's Bluetooth service refuses to carry is lost, as on a bad line: the terminal's request
times out and the meter's log says why.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from wattguard.meter.bluetooth.concentrator import ConcentratorRadio
from wattguard.meter.bluetooth.handheld import PairingRefused
from wattguard.meter.device import Meter
from wattguard.meter.management.upgrade import Phase
from wattguard.network.hplc import Direction, HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.simulation.fleet import LoadSource, MeterFleet

__all__ = ["Neighbourhood"]

#: Events handled per call of ``run_until`` before it declares the system stuck.
_MAX_EVENTS = 50_000_000


class Neighbourhood:
    """One terminal, its meters, their loads and the HPLC channel between them, driven as one
    discrete-event loop over the sans-IO cores (see the module docstring)."""

    def __init__(
        self,
        terminal: Terminal,
        channel: HplcChannel,
        meters: Sequence[Meter],
        load: LoadSource,
        *,
        step: float = 60.0,
        upstream: Callable[[bytes], None] | None = None,
        radio: ConcentratorRadio | None = None,
    ) -> None:
        self.terminal = terminal
        self.channel = channel
        self.fleet = MeterFleet(meters, load, step=step)
        self.meters = {meter.address: meter for meter in meters}
        self.upstream = upstream
        self.radio = radio
        self.now = terminal.start
        self.on_step: list[Callable[[float], None]] = []
        #: The self-test of a meter booting a new management image (a fault to inject: False
        #: for a meter whose new image does not run, so it rolls back).
        self.self_test: Callable[[bytes], bool] = lambda address: True
        self._inbox: deque[bytes] = deque()
        self._handling = False

    def power_up(self, now: float) -> None:
        self.now = now
        self.fleet.power_up(now)

    def connected(self, now: float) -> None:
        """The link to the station is up: the terminal logs in (through ``upstream``)."""
        self.terminal.connected(now)
        self._flush()

    def from_upstream(self, data: bytes) -> None:
        """Bytes from the station side (``b""``: the link went down); safe to call from inside
        ``upstream`` (a synchronous station answering at once): they are queued and handled in
        order, not recursively."""
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
        for _ in range(_MAX_EVENTS):
            times = [
                t
                for t in (
                    self.channel.get_timer(),
                    self.terminal.get_timer(),
                    None if self.fleet.now is None else self.fleet.now + self.fleet.step_seconds,
                )
                if t is not None
            ]
            when = min(times, default=end + 1)
            if when > end:
                self.now = end
                self.terminal.handle_timer(end)
                self._flush()
                return
            self.now = max(self.now, when)
            self._advance(self.now)
        raise RuntimeError("the simulation made no progress (a component keeps rescheduling)")

    def _advance(self, now: float) -> None:
        self.channel.handle_timer(now)
        while (delivery := self.channel.next_event()) is not None:
            if delivery.direction == Direction.DOWN:
                meter = self.meters.get(delivery.address)
                if meter is not None:
                    self._to_meter(meter, delivery.data, now)
            else:
                self.terminal.receive_hplc(delivery.address, delivery.data, now)
        fleet_now = self.fleet.now
        if fleet_now is not None and fleet_now + self.fleet.step_seconds <= now:
            self.fleet.step()
            self._restart_upgraded(now)
            for hook in self.on_step:
                hook(now)
        self.terminal.handle_timer(now)
        self._flush()

    def _to_meter(self, meter: Meter, data: bytes, now: float) -> None:
        if self.radio is None:
            meter.receive_data(data, now)
            return
        try:
            answer = self.radio.exchange(
                meter.address, data, lambda frame: meter.receive_bluetooth(frame, now)
            )
        except PairingRefused:
            return
        if answer:
            self.channel.send(Direction.UP, meter.address, answer, now)

    def _notified(self, meter: Meter) -> bytes:
        # Over Bluetooth a meter's own bytes come as a notification in the concentrator's
        # session (or, without one, with its answer to the next request).
        assert self.radio is not None
        frame = meter.bluetooth_to_send(self.now)
        return self.radio.notified(meter.address, frame) if frame else b""

    def _restart_upgraded(self, now: float) -> None:
        """A meter whose management module armed a new image restarts into it (the module's
        bootloader does so after the last block): on trial, kept or rolled back."""
        for address, meter in self.meters.items():
            upgrader = meter.upgrader
            if upgrader is None or upgrader.phase != Phase.TRIAL:
                continue
            if upgrader.running == upgrader.candidate_slot:
                continue  # already runs it on trial
            out = meter.data_to_send()  # its answer to the last block leaves before the restart
            if out:
                self.channel.send(Direction.UP, address, out, now)
            meter.restart(now, self.self_test(address))

    def _flush(self) -> None:
        for address, meter in self.meters.items():
            out = meter.data_to_send() if self.radio is None else self._notified(meter)
            if out:
                self.channel.send(Direction.UP, address, out, self.now)
        out = self.terminal.data_to_send()
        if out and self.upstream is not None:
            self.upstream(out)
