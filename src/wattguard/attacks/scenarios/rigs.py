"""Systems the device scenarios attack: a meter whose ESAM the station's cryptographic device
provisioned, and the station's DL/T 698.45 line to it.

Everything is seeded (keys, nonces), so a scenario sends the same bytes every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from wattguard.cipher import CryptoDevice
from wattguard.clock import Clock
from wattguard.crypto import sm2, sm3
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import MasterKeys
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.protocol import Apdu, decode_apdu
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.security import Protection, SecurityResponse
from wattguard.randomness import seeded
from wattguard.runtime.simulation import Neighbourhood
from wattguard.testing.meter import Line, new_meter

__all__ = [
    "CA",
    "VENDOR",
    "MeterRig",
    "meter_rig",
    "neighbourhood",
    "quiet",
    "recording_relay",
]

T = TypeVar("T")

#: The utility's CA and the meter vendor's signing key (fixed, so the runs are reproducible).
CA = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: utility CA"))
VENDOR = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: meter vendor"))


@dataclass
class MeterRig:
    """A powered meter; protected, its ESAM is provisioned by ``device``, the station's
    cryptographic device, which wraps what :meth:`command` sends."""

    meter: Meter
    device: CryptoDevice | None
    line: Line

    def command(self, apdu: Structure, now: float) -> Apdu:
        """Send a request the way the station does: through the cryptographic device when
        the system is protected (ciphertext + MAC), in plaintext when it is not; the meter's
        answer, opened."""
        if self.device is None:
            return self.line.exchange(apdu, now)
        address = self.meter.address
        wrapped = self.device.protect(address, apdu.to_bytes(), protection=Protection.CIPHERTEXT)
        answer = self.line.exchange(wrapped, now)
        if not isinstance(answer, SecurityResponse):
            return answer
        return decode_apdu(self.device.open_response(address, wrapped, answer))


def meter_rig(address: bytes, now: float, config: MeterConfig) -> MeterRig:
    """A meter powered up at ``now``: with an ESAM from a fresh cryptographic device when
    ``config.protected``, without one when not."""
    if not config.protected:
        meter = new_meter(address, config=config)
        meter.power_up(now)
        return MeterRig(meter, None, Line(meter))
    random = seeded(b"device " + address)
    device = CryptoDevice(
        [MasterKeys.generate(1, random)], ca_key=CA, clock=lambda: now, random=random
    )
    client = EsamClient(device.provision_esam(address, random=seeded(b"esam " + address)))
    meter = new_meter(address, esam=client, wallet=client, config=config)
    meter.power_up(now)
    return MeterRig(meter, device, Line(meter))


def neighbourhood(
    terminal: bytes, clock: Clock, task: CollectionTask, meters: int = 2
) -> Neighbourhood:
    """A terminal and its meters (unprotected: these scenarios attack the WAN side), their
    addresses the terminal's last three bytes and a number; a steady 500 W load."""
    channel = HplcChannel(seed=terminal[-1])
    collector = Terminal(terminal, channel, tasks=(task,), start=clock.time())
    unprotected = MeterConfig(protected=False)
    fleet = [
        new_meter(terminal[3:] + k.to_bytes(3, "big"), config=unprotected)
        for k in range(1, meters + 1)
    ]
    for meter in fleet:
        collector.add_meter(meter.address)

    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(meters, 500.0), np.full(meters, 50.0)

    net = Neighbourhood(collector, channel, fleet, load)
    net.power_up(clock.time())
    return net


def quiet(run: Callable[[], T]) -> T:
    """Run ``run`` with wattguard's log below CRITICAL muted: an attack makes the system log
    thousands of refusals, and its security events already keep them."""
    logger = logging.getLogger("wattguard")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return run()
    finally:
        logger.setLevel(level)


async def recording_relay(port: int, wire: bytearray) -> tuple[asyncio.Server, int]:
    """A relay on the path to ``port`` on loopback (terminals to the FEP) that passes every
    byte on and keeps what goes up in ``wire``: the eavesdropper's view."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if up:
                    wire.extend(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fep_reader, fep_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, fep_writer, True), pipe(fep_reader, writer, False))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])
