"""Terminals reach the FEP over TCP only through the WAN secure channel: a genuine terminal
gets through; one with a certificate from another CA, or a revoked one, does not."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from wattguard.events import EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.bus import InProcessBus
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.network.utility import UtilityPki
from wattguard.protocol import OAD
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading

T0 = 1_790_000_000.0
TASK = CollectionTask("real-time", 300.0, (OAD(0x0010, 2, 0),))
GOOD, ROGUE, REVOKED = (bytes.fromhex(f"99000000000{k}") for k in (1, 2, 3))


def neighbourhood(address: bytes, clock: PacedClock) -> Neighbourhood:
    channel = HplcChannel(seed=1)
    terminal = Terminal(address, channel, tasks=(TASK,), start=clock.time())
    meter = Meter(address[:3] + b"\x00\x00\x01", config=MeterConfig(protected=False))
    terminal.add_meter(meter.address)

    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(1, 500.0), np.full(1, 50.0)

    net = Neighbourhood(terminal, channel, [meter], load)
    net.power_up(clock.time())
    return net


def test_only_certified_unrevoked_terminals_get_through() -> None:
    async def scenario() -> tuple[set[bytes], EventLog, dict[bytes, int]]:
        clock = PacedClock(T0, 600.0)
        utility = UtilityPki.create(clock)
        impostor = UtilityPki.create(clock, name="someone else's CA")
        utility.enrol(REVOKED)
        utility.revoke(REVOKED)
        events = EventLog()
        bus = InProcessBus()
        seen: set[bytes] = set()

        def sink(readings: list[Reading]) -> None:
            seen.update(bytes.fromhex(r.meter)[:3] for r in readings)

        collector = Collector(bus, clock, PlainVerifier(), sink, require_protection=False)
        fep = FepServer(
            bus, clock=clock, events=events, channel=utility.fep_channel(events),
            limits=FepLimits(login_timeout=600),
        )  # fmt: skip
        port = await fep.start()
        clients = [
            TerminalClient(neighbourhood(GOOD, clock), clock, "127.0.0.1", port,
                           channel=utility.terminal_channel(GOOD)),
            TerminalClient(neighbourhood(ROGUE, clock), clock, "127.0.0.1", port,
                           channel=impostor.terminal_channel(ROGUE)),
            TerminalClient(neighbourhood(REVOKED, clock), clock, "127.0.0.1", port,
                           channel=utility.terminal_channel(REVOKED)),
        ]  # fmt: skip
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await asyncio.sleep(3.0)
        for client in clients:
            client.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fep.close()
        logged_in = {t: int(link.logged_in) for t, link in collector.links.items()}
        return seen, events, logged_in

    seen, events, logged_in = asyncio.run(scenario())
    assert seen == {GOOD[:3]}  # readings from the genuine terminal's meter only
    assert logged_in == {GOOD: 1}  # the others never reached the station at all
    details = " | ".join(e.detail for e in events.events)
    assert "revoked" in details.lower()
    assert any("issuer" in e.detail.lower() or "unknown" in e.detail.lower() for e in events.events)
