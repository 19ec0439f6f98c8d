"""An asyncio TCP shell around :class:`~wattguard.protocol.connection.ServerConnection`.

Each accepted socket gets its own sans-IO connection core, driven by the one
:class:`~wattguard.runtime.shell.CoreShell`. Every :class:`IncomingRequest` goes to the
application's ``handler``, whose answer (an APDU, or None for no answer) goes back through
``respond``; protocol violations are counted and logged, never fatal; timers run on the event
loop's monotonic clock. The core never sees the socket, so the same logic runs in a
simulation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from wattguard.protocol import ConnectionEvent, IncomingRequest, ProtocolViolation, ServerConnection
from wattguard.protocol.apdu import Structure
from wattguard.protocol.link import ServerAddress
from wattguard.runtime.shell import CoreShell

__all__ = ["ProtocolServer"]

log = logging.getLogger(__name__)

Handler = Callable[[IncomingRequest], Structure | None]


class ProtocolServer:
    """Serve DL/T 698.45 over TCP as the server at ``address``."""

    def __init__(self, address: ServerAddress, handler: Handler, *, read_size: int = 4096) -> None:
        self.address = address
        self.handler = handler
        self.read_size = read_size
        self.violations: list[ProtocolViolation] = []
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        core = ServerConnection(self.address)
        peer = writer.get_extra_info("peername")

        def on_event(event: ConnectionEvent) -> None:
            if isinstance(event, IncomingRequest):
                answer = self.handler(event)
                if answer is not None:
                    core.respond(event, answer)
            elif isinstance(event, ProtocolViolation):
                self.violations.append(event)
                log.warning("protocol violation from %s: %s", peer, event.error)

        loop = asyncio.get_running_loop()
        shell = CoreShell[ConnectionEvent](core, reader, writer, now=loop.time, on_event=on_event)
        await shell.run()
