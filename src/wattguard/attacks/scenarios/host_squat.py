"""Scenario 11: a host that shares its address with a terminal holds the FEP's per-host cap
with silent connections, over real loopback TCP.

A FEP (:class:`~wattguard.runtime.fep.FepServer`, the WAN secure channel on) caps the
connections one remote host may hold (``max_per_host``). The squatter sits at the terminal's
own address (a device behind the same NAT, or beside it on the same network): it opens the
cap's worth of connections, says nothing, and reopens each one the FEP closes. The terminal
(:class:`~wattguard.runtime.terminal.TerminalClient`) then connects, as it does after a WAN
outage.

Protected, the cap counts only connections that have not authenticated, and a new connection
from a host at its cap displaces that host's oldest unauthenticated one: the terminal's
handshake gets its turn, and once authenticated its session no longer counts. Unprotected,
the cap counts every connection of the host and refuses at it (the FEP before issue #13,
modelled only here), so the terminal is refused for as long as the squatter holds its slots.
The attack succeeds if no reading of the terminal's meters reaches the station within
:data:`WINDOW` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.rigs import neighbourhood, quiet
from wattguard.events import EventLog
from wattguard.network.bus import InProcessBus
from wattguard.network.fep import Admission, ConnectionGate, FepLimits
from wattguard.network.terminal import CollectionTask
from wattguard.network.utility import UtilityPki
from wattguard.protocol import OAD
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading

__all__ = ["CAP", "WINDOW", "squat"]

CAP = 4  # connections per host
WINDOW = 2.0  # real seconds for the terminal to get a reading through
_HOST = "127.0.0.1"  # the terminal's address, and the squatter's
_TERMINAL = bytes.fromhex("990000000001")
_TASK = CollectionTask("real-time", 60.0, (OAD(0x0010, 2, 0),))


class _CapOnEveryone(ConnectionGate):
    """The gate before issue #13, for the unprotected run only: every connection of a host
    counts against its cap, authenticated or not, and the host is refused at it."""

    def admit(self, host: str, now: float) -> Admission | None:
        if self.unauthenticated(host) >= self.limits.max_per_host:
            self._refuse(f"connection from {host}: too many from this host", now)
            return None
        return super().admit(host, now)

    def authenticated(self, admission: Admission) -> None:
        """Nothing: an authenticated session still counts against its host."""


async def squat(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    """Hold CAP silent connections from the terminal's address until ``stop``, reopening each
    one the FEP closes; ``opened[0]`` counts them."""

    async def hold() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(_HOST, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            opened[0] += 1
            with contextlib.suppress(OSError):
                await reader.read()  # until the FEP closes it
            writer.close()
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(CAP)))


async def _run(protected: bool) -> Outcome:
    clock = PacedClock(T0, 600.0)
    utility = UtilityPki.create(clock)
    bus, events = InProcessBus(), EventLog()
    seen: set[str] = set()

    def sink(readings: list[Reading]) -> None:
        seen.update(r.meter for r in readings)

    Collector(bus, clock, PlainVerifier(), sink, require_protection=False)
    # a handshake deadline past the window (3600 s at 600x: 6 s), so the squatter's slots do
    # not free up by themselves during it; a real squatter reopens each one it loses at once
    limits = FepLimits(max_per_host=CAP, login_timeout=3600.0)
    fep = FepServer(bus, clock=clock, events=events, channel=utility.fep_channel(events),
                    limits=limits)  # fmt: skip
    if not protected:
        fep.gate = _CapOnEveryone(limits, events, fep.name)
    port = await fep.start(_HOST)
    stop, opened = asyncio.Event(), [0]
    squatter = asyncio.create_task(squat(port, stop, opened))
    while fep.gate.open < CAP:
        await asyncio.sleep(0.01)
    net = neighbourhood(_TERMINAL, clock, _TASK)
    client = TerminalClient(net, clock, _HOST, port, channel=utility.terminal_channel(_TERMINAL))
    task = asyncio.create_task(client.run())
    await asyncio.sleep(WINDOW)
    client.stop()
    stop.set()
    task.cancel()
    await fep.close()
    squatter.cancel()
    await asyncio.gather(task, squatter, return_exceptions=True)
    meters = {m.hex() for m in net.meters}
    got = len(seen & meters)
    out = Outcome(
        got == 0,
        f"{CAP} silent connections held from the terminal's address; "
        f"{got}/{len(meters)} of its meters' readings reached the station in {WINDOW:g} s",
        evidence=[
            f"squatter: {opened[0]} connections opened; terminal: {client.connections} "
            f"attempted; FEP: {fep.gate.refused} refused, {fep.gate.evicted} displaced"
        ],
    )
    return out.saw(events.events)


@scenario(
    11,
    "fep-host-squat",
    "a host at a terminal's address holds the FEP's per-host cap with silent connections, "
    "so the terminal cannot get back in",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def host_squat(protected: bool) -> Outcome:
    return quiet(lambda: asyncio.run(_run(protected)))
