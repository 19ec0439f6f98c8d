"""Over loopback TCP: a host that shares its address with a terminal holds its whole per-host
cap of connections without a handshake, and the terminal still gets in (issue #13, item 10).

The squatter opens ``max_per_host`` connections from 127.0.0.1, the terminal's own address,
sends nothing, and opens a new one whenever the FEP closes one. Before the fix the FEP refused
the terminal at its host's cap for as long as the squatter held it; now the cap counts only
connections that have not authenticated, and a new connection from a host at its cap takes the
place of the host's oldest unauthenticated one.
"""

from __future__ import annotations

import asyncio

from wattguard.attacks.scenarios.host_squat import CAP, squat
from wattguard.attacks.scenarios.rigs import neighbourhood
from wattguard.events import EventKind, EventLog
from wattguard.network.bus import InProcessBus
from wattguard.network.fep import FepLimits
from wattguard.network.terminal import CollectionTask
from wattguard.network.utility import UtilityPki
from wattguard.protocol import OAD
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading
from wattguard.testing import T0

TERMINAL = bytes.fromhex("990000000001")
TASK = CollectionTask("real-time", 60.0, (OAD(0x0010, 2, 0),))


async def _run() -> tuple[set[str], EventLog, int]:
    clock = PacedClock(T0, 600.0)
    utility = UtilityPki.create(clock)
    bus, events = InProcessBus(), EventLog()
    seen: set[str] = set()

    def sink(readings: list[Reading]) -> None:
        seen.update(r.meter for r in readings)

    Collector(bus, clock, PlainVerifier(), sink, require_protection=False)
    limits = FepLimits(max_per_host=CAP, login_timeout=3600.0)  # 6 s: past the run
    fep = FepServer(bus, clock=clock, events=events, channel=utility.fep_channel(events),
                    limits=limits)  # fmt: skip
    port = await fep.start()
    stop, opened = asyncio.Event(), [0]
    squatter = asyncio.create_task(squat(port, stop, opened))
    while fep.gate.open < CAP:  # the squatter holds the host's cap before the terminal comes
        await asyncio.sleep(0.01)
    client = TerminalClient(
        neighbourhood(TERMINAL, clock, TASK), clock, "127.0.0.1", port,
        channel=utility.terminal_channel(TERMINAL),
    )  # fmt: skip
    task = asyncio.create_task(client.run())
    await asyncio.sleep(2.0)
    client.stop()
    stop.set()
    task.cancel()
    await fep.close()
    squatter.cancel()
    await asyncio.gather(task, squatter, return_exceptions=True)
    return seen, events, opened[0]


def test_a_host_sharing_a_terminals_address_cannot_keep_it_out() -> None:
    seen, events, opened = asyncio.run(_run())
    assert opened >= CAP
    assert seen == {"000001000001", "000001000002"}  # both meters' readings got through
    assert any("without a handshake" in e.detail for e in events.of_kind(EventKind.FLOOD))
