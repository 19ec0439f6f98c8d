"""A terminal's neighbourhood run against the clock, connected to a front-end processor.

The neighbourhood (terminal, HPLC channel, meters and their loads) runs in simulated time
from a :class:`~wattguard.runtime.pacing.PacedClock` (``speed`` times real time), ticked by
its own task whether or not the link is up; the terminal's upstream link is a real TCP
connection through a channel core (the WAN secure channel, or a plain one) driven by the one
:class:`~wattguard.runtime.shell.CoreShell`. When the channel is up the terminal logs in; what
it sends goes through the channel, and what the channel delivers goes to the terminal. When
the connection drops the terminal keeps collecting into its outbox and reconnects with
back-off; the outbox drains once it is online again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from wattguard.clock import Clock
from wattguard.network.channel import (
    ChannelClosed,
    ChannelCore,
    ChannelData,
    ChannelEvent,
    ChannelUp,
    PlainChannel,
)
from wattguard.network.terminal import Online
from wattguard.runtime.pacing import patience, speed_of
from wattguard.runtime.shell import CoreShell
from wattguard.runtime.simulation import Neighbourhood

__all__ = ["TerminalClient"]

log = logging.getLogger(__name__)

#: The most simulated time one tick of a terminal's neighbourhood runs (seconds): a few metering
#: steps, then the event loop has its turn.
SLICE = 180.0


class TerminalClient:
    """Run ``net`` on ``clock`` and keep its terminal connected to the FEP at ``host:port``.

    ``channel`` makes each connection's channel core; ``tick`` is the real time between two
    runs of the neighbourhood; ``backoff`` the first and the longest wait before reconnecting.
    """

    def __init__(
        self,
        net: Neighbourhood,
        clock: Clock,
        host: str,
        port: int,
        *,
        channel: Callable[[], ChannelCore] = PlainChannel,
        tick: float = 0.05,
        backoff: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.net = net
        self.clock = clock
        self.host = host
        self.port = port
        self.channel_factory = channel
        self.tick = tick
        self.backoff = backoff
        self.connections = 0
        # the link to the FEP crosses the real network: its timeout in real seconds holds
        net.terminal.upstream_timeout = patience(clock, net.terminal.upstream_timeout)
        #: Called after each run of the neighbourhood (the deployment paces its clock by it).
        self.on_progress: Callable[[], None] | None = None
        self._channel: ChannelCore | None = None
        self._shell: CoreShell[ChannelEvent] | None = None
        self._up = False
        self._stopping = False
        net.upstream = self._send

    @property
    def terminal(self) -> bytes:
        """The terminal's address."""
        return self.net.terminal.address

    async def run(self) -> None:
        """Run until cancelled: the simulation ticks on while the link comes and goes."""
        ticker = asyncio.create_task(self._tick())
        try:
            delay = self.backoff[0]
            while not self._stopping:
                try:
                    await self._connect_once()
                    delay = self.backoff[0]
                except OSError as exc:
                    log.info("terminal %s: cannot reach the FEP: %s", self.terminal.hex(), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    def stop(self) -> None:
        """End the connection and do not reconnect."""
        self._stopping = True
        if self._shell is not None:
            self._shell.stop()

    async def _tick(self) -> None:
        while True:
            # at most SLICE of simulated time per tick, so that the event loop (the FEP link,
            # the station, the API) is never held for long when the simulation is behind
            self.net.run_until(min(self.clock.time(), self.net.now + SLICE))
            self._terminal_events()
            if self.on_progress is not None:
                self.on_progress()
            await asyncio.sleep(self.tick)

    async def _connect_once(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        channel = self.channel_factory()
        shell = CoreShell[ChannelEvent](
            channel, reader, writer, now=self.clock.monotonic, on_event=self._on_event,
            speed=speed_of(self.clock),
        )  # fmt: skip
        self._channel, self._shell, self._up = channel, shell, False
        self.connections += 1
        try:
            await shell.run()
        finally:
            self._channel = self._shell = None
            if self._up:
                self._up = False
                self.net.terminal.receive_data(b"", self.clock.time())
                self._terminal_events()

    def _on_event(self, event: ChannelEvent) -> None:
        if isinstance(event, ChannelUp) and not self._up:
            self._up = True
            now = self.clock.time()
            self.net.run_until(now)
            self.net.connected(now)
        elif isinstance(event, ChannelData):
            self.net.run_until(self.clock.time())
            self.net.from_upstream(event.data)
        elif isinstance(event, ChannelClosed):
            log.warning("terminal %s: channel closed: %s", self.terminal.hex(), event.reason)
            if self._shell is not None:
                self._shell.stop()

    def _send(self, data: bytes) -> None:
        """What the terminal sends the station: through the channel, once it is up."""
        if self._channel is not None and self._shell is not None and self._up:
            self._channel.send(data)
            self._shell.wake()

    def _terminal_events(self) -> None:
        while (event := self.net.terminal.next_event()) is not None:
            state = "online" if isinstance(event, Online) else "offline"
            log.info("terminal %s: %s", self.terminal.hex(), state)
