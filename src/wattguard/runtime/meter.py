"""Serve an assembled :class:`~wattguard.meter.device.Meter` over TCP, as if the socket were
the meter's power-line port.

Theory of operation. A connected client gets one :class:`~wattguard.runtime.shell.CoreShell`
driving the meter: bytes read go to ``receive_data``, the meter's ``data_to_send`` goes back,
and the meter's own timer (``get_timer``) says when ``handle_timer`` runs, so a delayed relay
operation or a freeze boundary happens at its time without polling. ``now`` is the clock's
POSIX time. One connection at a time, like the one HPLC channel a meter has; a second client
waits until the first leaves. What feeds the meter from outside (a load stepping it with
:meth:`~wattguard.meter.device.Meter.measure`) calls :meth:`MeterServer.wake` afterwards: the
connected client's shell re-reads the meter's timer and sends what the meter has to say, and
with no client connected the meter's due timers run there and then.
"""

from __future__ import annotations

import asyncio
import logging

from wattguard.clock import Clock, SystemClock
from wattguard.meter.device import Meter
from wattguard.meter.management.host_events import MeterEvent, RelaySwitched, SecurityAlert
from wattguard.runtime.pacing import speed_of
from wattguard.runtime.shell import CoreShell

__all__ = ["MeterServer"]

log = logging.getLogger(__name__)


class MeterServer:
    """One meter's power-line port on a TCP socket (see the module docstring)."""

    def __init__(self, meter: Meter, clock: Clock | None = None) -> None:
        self.meter = meter
        self.clock = clock or SystemClock()
        self._server: asyncio.Server | None = None
        self._line = asyncio.Lock()
        self._shell: CoreShell[MeterEvent] | None = None
        self._closing = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, and end the connected client's session (and any waiting one)."""
        self._closing = True
        if self._shell is not None:
            self._shell.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def wake(self) -> None:
        """Something outside fed the meter: let it act on that now."""
        if self._shell is not None:
            self._shell.wake()
            return
        now = self.clock.time()
        timer = self.meter.get_timer()
        if timer is not None and timer <= now:
            self.meter.handle_timer(now)
        while (event := self.meter.next_event()) is not None:
            _log_event(self.meter, event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._line:
            if self._closing:
                writer.close()
                return
            shell: CoreShell[MeterEvent] = CoreShell(
                self.meter,
                reader,
                writer,
                now=self.clock.time,
                on_event=lambda event: _log_event(self.meter, event),
                speed=speed_of(self.clock),
            )
            self._shell = shell
            try:
                await shell.run()
            finally:
                self._shell = None


def _log_event(meter: Meter, event: MeterEvent) -> None:
    if isinstance(event, RelaySwitched):
        log.info(
            "meter %s relay %s -> %s %s",
            meter.address.hex(),
            event.before.value,
            event.after.value,
            event.reason,
        )
    elif isinstance(event, SecurityAlert):
        alert = event.event
        log.info("meter %s: %s at %s: %s", meter.address.hex(), alert.kind.value, alert.source,
                 alert.detail)  # fmt: skip
