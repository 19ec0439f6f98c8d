"""The front-end processor as an asyncio TCP server.

Each accepted connection passes the :class:`~wattguard.network.fep.ConnectionGate` (caps in
all, and per host on the connections not yet authenticated: one the gate evicts is closed
here), then runs as one sans-IO :class:`~wattguard.network.fep.FepConnection`
(its channel core, the WAN secure channel or a plain one when the boundary protection is off,
and once the channel names the terminal a :class:`~wattguard.network.fep.FepSession` that
checks every frame) under the one :class:`~wattguard.runtime.shell.CoreShell`. Frames that
pass go on the bus on ``up.<terminal>``; what the station publishes on ``down.<terminal>``
goes back through the channel. The link fragments of one APDU (a gathered report above 1024
bytes: DL/T 698.45-2017 clause 5.3) go on the bus together, as one message, once the last
has passed: the station's ingest workers share the ``up`` stream, each message going to one
of them, and a worker can only reassemble an APDU whose fragments it all receives. A
connection the core closes is closed here, and the gate released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from wattguard.clock import Clock, SystemClock
from wattguard.events import EventSink
from wattguard.network.bus import Bus, down_subject, up_subject
from wattguard.network.channel import ChannelCore, PlainChannel
from wattguard.network.fep import (
    Admission,
    ConnectionGate,
    FepConnection,
    FepConnectionEvent,
    FepLimits,
    FepSession,
    FrameAdmitted,
    SessionOpened,
)
from wattguard.protocol.link import FragmentKind, LinkFrame
from wattguard.runtime.pacing import speed_of
from wattguard.runtime.shell import CoreShell

__all__ = ["FepServer"]

log = logging.getLogger(__name__)

_READ_SIZE = 65536
#: The most bytes of one APDU's fragments held before they go on the bus (a NATS message is at
#: most 1 MB by default); past it what is held goes on as it is.
MAX_HELD = 512 * 1024


class FepServer:
    """The FEP: accepts terminals' connections on TCP and bridges them to the ``bus``.

    ``channel`` makes each connection's channel core; ``limits`` are the boundary's checks;
    ``events`` records the security events; ``clock``'s monotonic time is the connections'
    ``now``. ``sessions`` holds the sessions open now, ``forwarded`` counts frames.
    """

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
        """Listen; return the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every connection."""
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
        admission = self.gate.admit(host, self.clock.monotonic())
        if admission is None:
            writer.close()
            return
        try:
            await self._serve(reader, writer, f"{host}:{peer[1]}", admission)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("%s: connection %s ended: %s", self.name, peer, exc)
        except asyncio.CancelledError:
            # the FEP is closing; end quietly (Python 3.11's stream callback would log a
            # cancelled connection task as an error)
            log.debug("%s: connection %s cancelled", self.name, peer)
        except Exception:  # a bug closes this connection, never the FEP
            log.exception("%s: connection %s failed", self.name, peer)
        finally:
            self.gate.release(admission)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        admission: Admission,
    ) -> None:
        connection = FepConnection(
            self.channel(), self.clock.monotonic(),
            limits=self.limits, events=self.events, name=self.name, peer=peer,
        )  # fmt: skip
        unsubscribe: Callable[[], None] | None = None
        held: list[bytes] = []  # the fragments of the APDU in transfer

        def down(subject: str, payload: bytes) -> None:
            connection.send(payload)
            shell.wake()

        def on_event(event: FepConnectionEvent) -> None:
            nonlocal unsubscribe
            if isinstance(event, SessionOpened):
                self.sessions.add(event.session)
                if event.session.terminal is not None:  # the channel authenticated it
                    self.gate.authenticated(admission)
            elif isinstance(event, FrameAdmitted):
                claimed = connection.session.claimed if connection.session else None
                if unsubscribe is None and claimed is not None:
                    unsubscribe = self.bus.subscribe(down_subject(claimed), down)
                self.forwarded += 1
                frame = event.frame
                for message in _gather(held, frame):
                    self.bus.publish(up_subject(frame.address.address), message)
            else:
                shell.stop()

        shell = CoreShell[FepConnectionEvent](
            connection, reader, writer, now=self.clock.monotonic, on_event=on_event,
            read_size=_READ_SIZE, speed=speed_of(self.clock),
        )  # fmt: skip
        admission.close = shell.stop  # evicted by a newer connection from the same host
        try:
            await shell.run()
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if connection.session is not None:
                self.sessions.discard(connection.session)


def _gather(held: list[bytes], frame: LinkFrame) -> list[bytes]:
    """The messages that go on the bus once ``frame`` has passed: the frame itself, or at an
    APDU's last fragment all its fragments in one (none while its transfer goes on). ``held``
    keeps a transfer's fragments; another frame (a heartbeat) passes beside it."""
    data = frame.to_bytes()
    kind = None if frame.fragment is None else frame.fragment.kind
    if kind is FragmentKind.START:
        out = [b"".join(held)] if held else []  # one abandoned: passed on as it was
        held[:] = [data]
        return out
    if kind in (FragmentKind.MIDDLE, FragmentKind.LAST) and held:
        held.append(data)
        if kind is FragmentKind.LAST or sum(map(len, held)) > MAX_HELD:
            out = [b"".join(held)]
            held.clear()
            return out
        return []
    return [data]
