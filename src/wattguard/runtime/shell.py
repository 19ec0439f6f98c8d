"""The one asyncio shell that drives a sans-IO core over a stream.

Theory of operation. :class:`CoreShell` owns nothing but the socket. Each turn it hands the
core's events to ``on_event`` (which may call the core: answer a request, send data), writes
what the core has to send, then waits for the first of three things: bytes from the peer
(given to ``receive_data`` with the shell's clock), the core's timer (``handle_timer``), or a
:meth:`CoreShell.wake` from outside (a message from the bus fed the core something to send).
It ends when the peer closes the stream, the transport fails, or :meth:`CoreShell.stop` is
called; then the core is told (``receive_data(b"", now)``) unless it was stopped from here.

The core decides everything. The shell has no protocol logic, so the same core runs here and
in the virtual-time simulation. It drives the 698 server (:mod:`.tcp`), the FEP
(:mod:`.fep`), the terminal's link to the FEP (:mod:`.terminal`) and the cryptographic
device's server (:mod:`.cipher`); what a runtime does once the stream has ended (release a
gate, tell another core) follows ``await run()``.

The core's timers are in the seconds of ``now``; the shell waits for them in real seconds.
With a paced clock (``speed`` simulated seconds per real second) it divides by the speed, so a
timer 60 simulated seconds away at 60x is waited for one real second. ``idle`` bounds the real
wait for cores whose timers come from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from wattguard.sansio import Core

__all__ = ["CoreShell"]

log = logging.getLogger(__name__)

E = TypeVar("E")


class CoreShell(Generic[E]):
    """Drive ``core`` over ``reader``/``writer``; ``now`` is the core's clock."""

    def __init__(
        self,
        core: Core[E],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        now: Callable[[], float],
        on_event: Callable[[E], None] = lambda event: None,
        read_size: int = 4096,
        idle: float | None = None,
        speed: float = 1.0,
    ) -> None:
        self.core = core
        self.reader = reader
        self.writer = writer
        self.now = now
        self.on_event = on_event
        self.read_size = read_size
        #: Longest real wait (a core whose timers come from outside, e.g. a meter stepped by
        #: its load, or a paced clock): ``handle_timer`` runs at least this often. None: only
        #: timers.
        self.idle = idle
        #: Seconds of ``now`` that pass per real second (a paced clock's speed).
        self.speed = speed
        self.peer = writer.get_extra_info("peername")
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        """Something outside fed the core: write what it has to send at once (a stream's
        write does not block; it is drained on the next turn), then hand out its events and
        re-read its timer on the next turn."""
        out = self.core.data_to_send()
        if out and not self.writer.is_closing():
            self.writer.write(out)
        self._wake.set()

    def stop(self) -> None:
        """End :meth:`run` after flushing what the core has to send."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Run until the peer closes, the transport fails, or :meth:`stop`."""
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                await self.flush()
                if self._stopped:
                    return
                if read is None:
                    read = asyncio.ensure_future(self.reader.read(self.read_size))
                woken = asyncio.ensure_future(self._wake.wait())
                timeout = self._timeout()
                done, _ = await asyncio.wait(
                    {read, woken}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                self._wake.clear()
                if read in done:
                    data = read.result()
                    read = None
                    self.core.receive_data(data, self.now())
                    if not data:
                        await self.flush()
                        return
                timer = self.core.get_timer()
                if not done or (timer is not None and timer <= self.now()):
                    self.core.handle_timer(self.now())
        except ConnectionError as exc:
            log.info("connection with %s ended: %s", self.peer, exc)
            self.core.receive_data(b"", self.now())
            self._drain_events()
        finally:
            if read is not None:
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await read
            self.writer.close()

    async def flush(self) -> None:
        """Hand out the core's events, then write what it has to send."""
        self._drain_events()
        out = self.core.data_to_send()
        if out and not self.writer.is_closing():
            self.writer.write(out)
            await self.writer.drain()

    def _drain_events(self) -> None:
        while (event := self.core.next_event()) is not None:
            self.on_event(event)

    def _timeout(self) -> float | None:
        timer = self.core.get_timer()
        wait = None if timer is None else max(0.0, timer - self.now()) / self.speed
        if self.idle is not None:
            wait = self.idle if wait is None else min(wait, self.idle)
        return wait
