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
from pathlib import Path

from wattguard.cipher import CryptoDevice, save_vault
from wattguard.clock import SystemClock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.runtime.deployment import CURVE, DAILY, REALTIME, mixed_load
from wattguard.runtime.fep import FepServer
from wattguard.runtime.natsbus import NatsBus
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.ingest import Reading
from wattguard.station.service import Station
from wattguard.station.storage import open_storage

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


def passphrase(confirm: bool = False) -> str:
    """The vault's passphrase: WATTGUARD_PASSPHRASE, or asked for on the terminal."""
    import getpass
    import os
    import sys

    given = os.environ.get("WATTGUARD_PASSPHRASE")
    if given:
        return given
    if not sys.stdin.isatty():
        raise ConfigError("the key vault needs its passphrase: set WATTGUARD_PASSPHRASE")
    first = getpass.getpass("vault passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigError("the two passphrases differ")
    return first


def init_vault(path: Path, versions: int = 1) -> None:
    """Create a key vault with fresh master keys (refuses to overwrite one)."""
    import os

    if path.exists():
        raise ConfigError(f"{path} exists; a vault is never overwritten (move it away first)")
    keys = [MasterKeys.generate(v, os.urandom) for v in range(1, versions + 1)]
    save_vault(path, keys, passphrase(confirm=True))
    print(f"cipher: vault {path} created with master key version(s) 1..{versions}")


def open_device(vault: Path | None) -> CryptoDevice | None:
    if vault is None:
        return None
    device = CryptoDevice.open(vault, passphrase(), ca_key=sm2.PrivateKey.generate())
    return device


async def run_station(
    bus_url: str,
    *,
    database: str = "sqlite:///wattguard-station.db",
    vault: Path | None = None,
    status_every: float = 5.0,
) -> None:
    hsm = open_device(vault)
    storage = open_storage(database)
    bus = await NatsBus.connect(bus_url, name="wattguard-station")
    station = Station(storage, bus, SystemClock(), hsm=hsm)
    await bus.ready()
    mode = "verifying every reading's MAC" if hsm is not None else "UNPROTECTED (no vault)"
    print(f"station: collecting from {bus_url} into {database}, {mode}", flush=True)
    last = time.monotonic()
    try:
        while True:
            await asyncio.sleep(1.0)
            station.tick()
            if time.monotonic() - last >= status_every:
                last = time.monotonic()
                online = sum(1 for link in station.collector.links.values() if link.logged_in)
                print(
                    f"station: {station.stored:,} readings from {online} terminals, "
                    f"{storage.count_events()} security events",
                    flush=True,
                )
    finally:
        station.collector.close()
        await bus.close()
        storage.close()


async def run_terminal(
    address: str,
    fep: str,
    *,
    meters: int = 25,
    speed: float = 60.0,
    seed: int = 0,
    vault: Path | None = None,
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
    # With the vault, the meters are made as the factory makes them: each ESAM provisioned
    # from the master keys, so the station (which opens the same vault) verifies their MACs.
    factory = open_device(vault)
    terminal = Terminal(
        terminal_address, channel, tasks=(REALTIME, CURVE, DAILY), start=clock.time(),
        protect=None if factory is None else (lambda _address, request: wrap_with_rn(request)),
    )  # fmt: skip
    prefix = address[-6:]
    fleet = []
    for i in range(1, meters + 1):
        meter_address = bytes.fromhex(f"{prefix}{i:06d}")
        if factory is None:
            fleet.append(Meter(meter_address, config=MeterConfig(protected=False)))
        else:
            esam = EsamClient(factory.provision_esam(meter_address))
            fleet.append(Meter(meter_address, esam=esam, wallet=esam))
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
