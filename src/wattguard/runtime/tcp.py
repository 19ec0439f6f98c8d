"""An asyncio TCP shell around :class:`~wattguard.protocol.connection.ServerConnection`.

Each accepted socket gets its own sans-IO connection core. Bytes read go to
``receive_data``; every :class:`IncomingRequest` goes to the application's ``handler``, whose
answer (an APDU, or None for no answer) goes back through ``respond``; protocol violations are
counted and logged, never fatal; ``get_timer``/``handle_timer`` run on the event loop's
monotonic clock. The core never sees the socket, so the same logic runs in a simulation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from wattguard.protocol.apdu import Structure
from wattguard.protocol.connection import IncomingRequest, ProtocolViolation, ServerConnection
from wattguard.protocol.link import ServerAddress

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
        loop = asyncio.get_running_loop()
        core = ServerConnection(self.address)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                timer = core.get_timer()
                wait = None if timer is None else max(0.0, timer - loop.time())
                try:
                    data = await asyncio.wait_for(reader.read(self.read_size), wait)
                except TimeoutError:
                    core.handle_timer(loop.time())
                    data = None
                if data is not None:
                    if not data:
                        break
                    core.receive_data(data)
                self._dispatch(core, peer)
                out = core.data_to_send()
                if out:
                    writer.write(out)
                    await writer.drain()
        except ConnectionError as exc:
            log.info("connection from %s ended: %s", peer, exc)
        finally:
            writer.close()

    def _dispatch(self, core: ServerConnection, peer: object) -> None:
        while (event := core.next_event()) is not None:
            if isinstance(event, IncomingRequest):
                answer = self.handler(event)
                if answer is not None:
                    core.respond(event, answer)
            elif isinstance(event, ProtocolViolation):
                self.violations.append(event)
                log.warning("protocol violation from %s: %s", peer, event.error)
