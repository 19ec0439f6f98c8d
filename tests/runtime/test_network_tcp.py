"""Terminals reach the station through a front-end processor over real loopback TCP, in paced
simulated time; a FEP restart loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from wattguard.events import EventKind, EventLog
from wattguard.meter.device import MeterConfig
from wattguard.network.bus import InProcessBus
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.protocol import OAD
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading
from wattguard.testing import T0
from wattguard.testing.meter import new_meter

SPEED = 900.0  # a simulated quarter of an hour per real second
TASK = CollectionTask("real-time", 300.0, (OAD(0x0010, 2, 0),))


def neighbourhood(terminal_address: bytes, clock: PacedClock, n: int = 3) -> Neighbourhood:
    channel = HplcChannel(seed=int.from_bytes(terminal_address[-2:]))
    terminal = Terminal(terminal_address, channel, tasks=(TASK,), start=clock.time())
    base = int(terminal_address.hex()[-4:]) * 1000
    meters = [
        new_meter(bytes.fromhex(f"{base + i:012d}"), config=MeterConfig(protected=False))
        for i in range(1, n + 1)
    ]
    for meter in meters:
        terminal.add_meter(meter.address)

    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(n, 500.0), np.full(n, 50.0)

    net = Neighbourhood(terminal, channel, meters, load)
    net.power_up(clock.time())
    return net


async def _scenario(restart_fep: bool) -> tuple[set[tuple[str, int]], list[TerminalClient], Any]:
    clock = PacedClock(T0, SPEED)
    bus = InProcessBus()
    events = EventLog()
    stored: set[tuple[str, int]] = set()

    def sink(readings: list[Reading]) -> None:
        stored.update((r.meter, r.time) for r in readings if r.quantity == "00100201")

    collector = Collector(
        bus, clock, PlainVerifier(), sink, events=events, require_protection=False
    )
    fep = FepServer(bus, clock=clock, events=events, limits=FepLimits(login_timeout=600))
    port = await fep.start()
    clients = [
        TerminalClient(
            neighbourhood(bytes.fromhex(f"99000000000{k}"), clock), clock, "127.0.0.1", port
        )
        for k in (1, 2)
    ]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    await asyncio.sleep(1.5)
    if restart_fep:
        await fep.close()
        await asyncio.sleep(1.0)  # the terminals keep collecting into their outboxes
        fep = FepServer(bus, clock=clock, events=events, limits=FepLimits(login_timeout=600))
        await fep.start(port=port)
    await asyncio.sleep(2.0)
    end = clock.time()
    await asyncio.sleep(1.0)  # let what was read by `end` arrive
    for client in clients:
        client.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await fep.close()
    collector.tick()
    return {(m, t) for m, t in stored if t <= end - 60}, clients, (end, events)


def expected(clients: list[TerminalClient], end: float) -> set[tuple[str, int]]:
    """Every meter read at every 5-minute mark up to ``end`` (start included)."""
    out = set()
    for client in clients:
        for meter in client.net.meters:
            out.update(
                (meter.hex(), int(T0 + 300 * k)) for k in range(int((end - 60 - T0) // 300) + 1)
            )
    return out


def _times(stored: set[tuple[str, int]]) -> set[tuple[str, int]]:
    # reads go out at the tick after each mark: round down to the 5-minute mark
    return {(m, int(T0 + (t - T0) // 300 * 300)) for m, t in stored}


def test_terminals_report_through_the_fep_over_tcp() -> None:
    stored, clients, (end, events) = asyncio.run(_scenario(restart_fep=False))
    assert _times(stored) >= expected(clients, end) - {
        (m, t) for m, t in expected(clients, end) if t > end - 400
    }
    assert clients and all(c.connections == 1 for c in clients)
    assert not events.of_kind(EventKind.MALFORMED)


def test_a_fep_restart_loses_no_reading() -> None:
    stored, clients, (end, _events) = asyncio.run(_scenario(restart_fep=True))
    want = {(m, t) for m, t in expected(clients, end) if t <= end - 400}
    assert want <= _times(stored)
    assert clients and all(c.connections >= 2 for c in clients)
