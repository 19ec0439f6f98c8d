"""The front-end processor as an asyncio TCP server.

Each accepted connection passes the :class:`~wattguard.network.fep.ConnectionGate` (caps in
all and per host), then its channel core (the WAN secure channel, or a plain one when the
boundary protection is off) and, once the channel names the terminal, a
:class:`~wattguard.network.fep.FepSession` that checks every frame. Frames that pass go on
the bus on ``up.<terminal>``; what the station publishes on ``down.<terminal>`` goes back
through the channel. A session the checks close is closed here, and the gate released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from wattguard.clock import Clock, SystemClock
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.bus import Bus, down_subject, up_subject
from wattguard.network.fep import (
    ChannelClosed,
    ChannelCore,
    ChannelData,
    ChannelUp,
    ConnectionGate,
    FepLimits,
    FepSession,
    PlainChannel,
)

__all__ = ["FepServer"]

log = logging.getLogger(__name__)


class FepServer:
    def __init__(
        self,
        bus: Bus,
        *,
        channel: Callable[[], ChannelCore] = PlainChannel,
        limits: FepLimits | None = None,
        events: EventSink | None = None,
        clock: Clock | None = None,
        name: str = "fep-1",
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.limits = limits or FepLimits()
        self.events = events
        self.clock = clock or SystemClock()
        self.name = name
        self.gate = ConnectionGate(self.limits, events, name)
        self.sessions: set[FepSession] = set()
        self.forwarded = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        host = str(peer[0])
        if not self.gate.admit(host, self.clock.monotonic()):
            writer.close()
            return
        try:
            await self._serve(reader, writer, f"{host}:{peer[1]}")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("%s: connection %s ended: %s", self.name, peer, exc)
        except asyncio.CancelledError:
            pass  # the FEP is closing (swallowed: Python 3.11 logs a cancelled callback)
        except Exception:  # a bug closes this connection, never the FEP
            log.exception("%s: connection %s failed", self.name, peer)
        finally:
            self.gate.release(host)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        channel = self.channel()
        opened = self.clock.monotonic()
        session: FepSession | None = None
        unsubscribe: Callable[[], None] | None = None

        def down(subject: str, payload: bytes) -> None:
            channel.send(payload)
            out = channel.data_to_send()
            if out and not writer.is_closing():
                writer.write(out)

        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(65536), 1.0)
                except TimeoutError:
                    data = None
                now = self.clock.monotonic()
                if data is not None:
                    if not data:
                        return
                    channel.receive_data(data)
                while (event := channel.next_event()) is not None:
                    if isinstance(event, ChannelUp):
                        # events name the host, not the port: a host that reconnects is one
                        # source to the monitor, with one alert
                        source = f"{self.name} {peer.rsplit(':', 1)[0]}"
                        session = FepSession(event.peer, now, self.limits, self.events, source)
                        self.sessions.add(session)
                    elif isinstance(event, ChannelClosed):
                        self._record(EventKind.AUTHENTICATION, f"{peer}: {event.reason}", now)
                        await self._flush(channel, writer)
                        return
                    elif isinstance(event, ChannelData) and session is not None:
                        for frame in session.receive(event.data, now):
                            if unsubscribe is None and session.claimed is not None:
                                unsubscribe = self.bus.subscribe(
                                    down_subject(session.claimed), down
                                )
                            self.forwarded += 1
                            self.bus.publish(up_subject(frame.address.address), frame.to_bytes())
                await self._flush(channel, writer)
                if session is None:
                    if now - opened >= self.limits.login_timeout:
                        self._record(EventKind.AUTHENTICATION, f"{peer}: no handshake", now)
                        return
                    continue
                session.check_timers(now)
                if session.closed is not None:
                    log.info("%s: closing %s: %s", self.name, peer, session.closed)
                    return
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if session is not None:
                self.sessions.discard(session)

    @staticmethod
    async def _flush(channel: ChannelCore, writer: asyncio.StreamWriter) -> None:
        out = channel.data_to_send()
        if out:
            writer.write(out)
            await writer.drain()

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s", self.name, detail)
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.name, detail, now))
