"""Each role of a deployment as its own process: ``wattguard fep``, ``station``, ``terminal``.

The processes meet over loopback TCP (terminal to FEP) and the NATS bus (FEP to station).
Each is configured by command-line options whose defaults come from the environment
(``WATTGUARD_BUS``, ``WATTGUARD_FEP``), and prints one status line every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from wattguard.clock import SystemClock
from wattguard.errors import ConfigError
from wattguard.events import EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.runtime.deployment import CURVE, REALTIME, mixed_load
from wattguard.runtime.fep import FepServer
from wattguard.runtime.natsbus import NatsBus
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading

__all__ = ["run_fep", "run_station", "run_terminal", "split_host_port"]

log = logging.getLogger(__name__)


def split_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"expected HOST:PORT, e.g. 127.0.0.1:8765, not {text!r}")
    return host, int(port)


async def run_fep(listen: str, bus_url: str, *, status_every: float = 5.0) -> None:
    host, port = split_host_port(listen)
    bus = await NatsBus.connect(bus_url, name="wattguard-fep")
    events = EventLog()
    fep = FepServer(bus, events=events, limits=FepLimits())
    bound = await fep.start(host, port)
    print(f"fep: listening on {host}:{bound}, forwarding to {bus_url}", flush=True)
    try:
        while True:
            await asyncio.sleep(status_every)
            print(
                f"fep: {len(fep.sessions)} terminals connected, {fep.forwarded:,} frames "
                f"forwarded, {len(events.events)} security events",
                flush=True,
            )
    finally:
        await fep.close()
        await bus.close()


@dataclass
class _Count:
    readings: int = 0

    def add(self, readings: list[Reading]) -> None:
        self.readings += len(readings)


async def run_station(bus_url: str, *, status_every: float = 5.0) -> None:
    bus = await NatsBus.connect(bus_url, name="wattguard-station")
    events = EventLog()
    count = _Count()
    collector = Collector(
        bus, SystemClock(), PlainVerifier(), count.add, events=events, require_protection=False
    )
    await bus.ready()
    print(f"station: collecting from {bus_url}", flush=True)
    last = time.monotonic()
    try:
        while True:
            await asyncio.sleep(1.0)
            collector.tick()
            if time.monotonic() - last >= status_every:
                last = time.monotonic()
                online = sum(1 for link in collector.links.values() if link.logged_in)
                print(
                    f"station: {count.readings:,} readings from {online} terminals, "
                    f"{len(events.events)} security events",
                    flush=True,
                )
    finally:
        collector.close()
        await bus.close()


async def run_terminal(
    address: str, fep: str, *, meters: int = 25, speed: float = 60.0, seed: int = 0
) -> None:
    host, port = split_host_port(fep)
    try:
        terminal_address = bytes.fromhex(address)
    except ValueError:
        terminal_address = b""
    if len(terminal_address) != 6:
        raise ConfigError(f"--address takes 12 digits, not {address!r}")
    if not 1 <= meters <= 999:
        raise ConfigError("--meters must be between 1 and 999")
    clock = PacedClock(time.time(), speed)
    channel = HplcChannel(seed=seed)
    terminal = Terminal(terminal_address, channel, tasks=(REALTIME, CURVE), start=clock.time())
    prefix = address[-6:]
    fleet = [
        Meter(bytes.fromhex(f"{prefix}{i:06d}"), config=MeterConfig(protected=False))
        for i in range(1, meters + 1)
    ]
    for meter in fleet:
        terminal.add_meter(meter.address)
    net = Neighbourhood(terminal, channel, fleet, mixed_load(meters, seed))
    net.power_up(clock.time())
    client = TerminalClient(net, clock, host, port)
    print(f"terminal {address}: {meters} meters, reporting to the FEP at {fep}", flush=True)
    runner = asyncio.create_task(client.run())
    try:
        while True:
            await asyncio.sleep(5.0)
            state = "online" if terminal.online else "offline"
            print(
                f"terminal {address}: {state}, {terminal.sent_batches} batches sent, "
                f"{len(terminal.outbox)} items waiting",
                flush=True,
            )
    finally:
        client.stop()
        runner.cancel()
