"""A terminal's neighbourhood run against the clock, connected to a front-end processor.

The neighbourhood (terminal, HPLC channel, meters and their loads) runs in simulated time
from a :class:`~wattguard.runtime.pacing.PacedClock` (``speed`` times real time); the
terminal's upstream link is a real TCP connection through a channel core (the WAN secure
channel, or a plain one). When the connection drops the terminal keeps collecting into its
outbox and reconnects with back-off; the outbox drains once it is online again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from wattguard.clock import Clock
from wattguard.network.fep import (
    ChannelClosed,
    ChannelCore,
    ChannelData,
    ChannelUp,
    PlainChannel,
)
from wattguard.runtime.simulation import Neighbourhood

__all__ = ["TerminalClient"]

log = logging.getLogger(__name__)


class TerminalClient:
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
        self._channel: ChannelCore | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._stopping = False
        net.upstream = self._send

    @property
    def terminal(self) -> bytes:
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
        self._stopping = True
        if self._writer is not None:
            self._writer.close()

    async def _tick(self) -> None:
        while True:
            self.net.run_until(self.clock.time())
            self._flush()
            await asyncio.sleep(self.tick)

    async def _connect_once(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        channel = self.channel_factory()
        self._channel, self._writer = channel, writer
        self.connections += 1
        up = False
        try:
            data = b""
            while True:
                if data:
                    channel.receive_data(data)
                while (event := channel.next_event()) is not None:
                    if isinstance(event, ChannelUp) and not up:
                        up = True
                        now = self.clock.time()
                        self.net.run_until(now)
                        self.net.terminal.connected(now)
                        self.net.from_upstream(b"")
                    elif isinstance(event, ChannelData):
                        self.net.run_until(self.clock.time())
                        self.net.from_upstream(event.data)
                    elif isinstance(event, ChannelClosed):
                        log.warning("terminal %s: channel closed: %s", self.terminal.hex(),
                                    event.reason)  # fmt: skip
                        return
                self._flush()
                data = await reader.read(65536)
                if not data:
                    return
        except ConnectionError as exc:
            log.info("terminal %s: link lost: %s", self.terminal.hex(), exc)
        finally:
            self._channel = self._writer = None
            if up:
                self.net.terminal.disconnected(self.clock.time())
            writer.close()

    def _send(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.send(data)

    def _flush(self) -> None:
        if self._channel is None or self._writer is None:
            return
        out = self._channel.data_to_send()
        if out and not self._writer.is_closing():
            self._writer.write(out)
