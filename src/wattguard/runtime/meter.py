"""Serve an assembled :class:`~wattguard.meter.device.Meter` over TCP, as if the socket were
the meter's power-line port: bytes read go to ``receive_hplc``, the meter's output goes back,
and its timers run on the given clock. One connection at a time, like the one HPLC channel a
meter has; a second client waits until the first leaves.
"""

from __future__ import annotations

import asyncio
import logging

from wattguard.clock import Clock, SystemClock
from wattguard.meter.device import Meter

__all__ = ["MeterServer"]

log = logging.getLogger(__name__)


class MeterServer:
    def __init__(self, meter: Meter, clock: Clock | None = None, *, tick: float = 1.0) -> None:
        self.meter = meter
        self.clock = clock or SystemClock()
        self.tick = tick
        self._server: asyncio.Server | None = None
        self._line = asyncio.Lock()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        async with self._line:
            try:
                while True:
                    try:
                        data = await asyncio.wait_for(reader.read(4096), self.tick)
                    except TimeoutError:
                        self.meter.step(self.clock.time())
                        data = None
                    if data is not None:
                        if not data:
                            break
                        self.meter.receive_hplc(data, self.clock.time())
                    out = self.meter.hplc_output()
                    if out:
                        writer.write(out)
                        await writer.drain()
            except ConnectionError as exc:
                log.info("meter connection from %s ended: %s", peer, exc)
            finally:
                writer.close()
