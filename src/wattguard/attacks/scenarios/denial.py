"""Scenario 11: denial of service at the front-end processor, over real loopback TCP.

A FEP (:class:`~wattguard.runtime.fep.FepServer`) serves the station; two collection terminals
(:class:`~wattguard.runtime.terminal.TerminalClient`, each with its meters on a simulated
power line, in paced time) report through it, and a third connects during the attack (as a
terminal does after a WAN outage). The attacker is another host (its sockets are bound to
127.0.0.2) on a thread of its own, with plain blocking sockets.

* ``fep-connection-flood``: the attacker opens connections as fast as it can, to 200, and
  holds them without a word. The FEP host can hold :data:`CAPACITY` connections (file
  descriptors and memory are finite; the scenario makes the number small so the flood fits
  in a second). Protected, one host may hold ``max_per_host`` of them and open
  ``connections_per_second``; unprotected those limits are off, and the flood takes every
  slot.
* ``fep-malformed-flood``: the attacker streams bytes of 0x68 on as many connections as it
  may: each byte is a possible frame start, the most expensive input the frame decoder can
  be given (about 2 ms of CPU per kilobyte). Protected, a connection is closed after
  ``malformed_limit`` undecodable frames, the FEP decodes at most one slice more, and the host
  cannot reconnect faster than ``connections_per_second``; unprotected, every byte sent is
  decoded. The attacker's budget is :data:`BUDGET` bytes, to keep the run short; it is what
  one host sends in well under a second, so a real attacker keeps the FEP down for as long
  as it likes.

The attack succeeds if the late terminal gets no reading through within the window, or the
established terminals' readings stall for :data:`STALL` seconds or more (they arrive every
0.4 s otherwise). Evidence: the attacker's counts, the stall, the events and alerts at the
station.

The attacker needs a second loopback address (Linux routes all of 127/8 to ``lo``).
"""

from __future__ import annotations

import asyncio
import itertools
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.rigs import neighbourhood, quiet
from wattguard.network.bus import InProcessBus
from wattguard.network.fep import FepLimits
from wattguard.network.terminal import CollectionTask
from wattguard.protocol import OAD
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station import Station
from wattguard.station.ingest import Reading
from wattguard.station.storage import open_storage

__all__ = ["BUDGET", "CAPACITY", "STALL"]

ATTACKER = "127.0.0.2"
CAPACITY = 64
BUDGET = 900_000  # bytes of garbage
STALL = 1.2  # seconds without a reading from an established terminal
WINDOW = 1.5  # seconds of attack
SPEED = 5.0  # simulated seconds per real second
TASK = CollectionTask("real-time", 2.0, (OAD(0x0010, 2, 0),))  # every 0.4 s real

PROTECTED = FepLimits(max_connections=CAPACITY, login_timeout=600.0)
OPEN = FepLimits(
    max_connections=CAPACITY, max_per_host=10**9, connections_per_second=1e12,
    connection_burst=10**9, malformed_limit=10**9, flood_limit=10**9, frames_per_second=1e12,
    frame_burst=10**9, bytes_per_second=1e15, byte_burst=10**12, login_timeout=1e9,
)  # fmt: skip


@dataclass
class Attack:
    """The attacker's thread: what it did, and the switch that stops it."""

    stop: threading.Event = field(default_factory=threading.Event)
    opened: int = 0
    failed: int = 0
    sent: int = 0


@dataclass
class Run:
    """One run of the flood: when it began, what each terminal delivered, and the station."""

    began: float  # when the attack began (monotonic)
    delivered: dict[int, list[float]]  # terminal number -> arrival times of its readings
    late_started: float
    attack: Attack
    station: Station

    def stall(self) -> float:
        """The longest wait for a reading from an established terminal during the attack."""
        end = self.began + WINDOW
        worst = 0.0
        for k in (1, 2):
            times = [self.began] + [t for t in self.delivered[k] if self.began < t < end] + [end]
            worst = max(worst, *(b - a for a, b in itertools.pairwise(times)))
        return worst

    def late_first(self) -> float | None:
        """Seconds from the late terminal's start to its first reading (None: none came)."""
        first = [t for t in self.delivered[3] if t < self.began + WINDOW]
        return min(first) - self.late_started if first else None

    def outcome(self, succeeded: bool, summary: str) -> Outcome:
        storage = self.station.storage
        a = self.attack
        late = self.late_first()
        if late is None:
            arrival = "the late terminal got no reading through"
        else:
            arrival = f"the late terminal's first reading after {late:.2f} s"
        waited = f"established terminals' longest wait for a reading {self.stall():.2f} s"
        out = Outcome(
            succeeded,
            f"{summary}; {waited}; {arrival}",
            evidence=[
                f"attacker from {ATTACKER}: {a.opened} connections opened, "
                f"{a.failed} refused or reset, {a.sent:,} bytes sent"
            ],
        )
        events = storage.events(None, None, None, 10_000)
        out.events.extend(f"{e.kind.name.lower()}: {e.source}: {e.detail}" for e in events[:40])
        if len(events) > 40:
            out.evidence.append(f"{len(events)} security events stored in all")
        out.alerts.extend(f"{a.rule} ({a.severity}): {a.subject}" for a in storage.alerts())
        return out


def _net(k: int, clock: PacedClock) -> Neighbourhood:
    return neighbourhood(bytes.fromhex(f"99{k:010d}"), clock, TASK)


async def _run(protected: bool, attacker: Callable[[int, Attack], None]) -> Run:
    clock = PacedClock(T0, SPEED)
    bus = InProcessBus()
    station = Station(open_storage("sqlite://"), bus, clock)
    delivered: dict[int, list[float]] = {1: [], 2: [], 3: []}

    def sink(readings: list[Reading]) -> None:
        for reading in readings:
            delivered[int(reading.meter[:6])].append(time.monotonic())  # 00000k: terminal k

    station.on_readings.append(sink)
    fep = FepServer(
        bus, clock=clock, events=station.monitor, limits=PROTECTED if protected else OPEN
    )
    port = await fep.start("127.0.0.1", 0)
    clients = [TerminalClient(_net(k, clock), clock, "127.0.0.1", port) for k in (1, 2)]
    tasks = [asyncio.create_task(client.run()) for client in clients]
    await asyncio.sleep(0.6)  # logged in and reporting
    attack = Attack()
    thread = threading.Thread(target=attacker, args=(port, attack), daemon=True)
    began = time.monotonic()
    thread.start()
    await asyncio.sleep(0.3)
    late = TerminalClient(_net(3, clock), clock, "127.0.0.1", port)
    late_started = time.monotonic()
    clients.append(late)
    tasks.append(asyncio.create_task(late.run()))
    while time.monotonic() < began + WINDOW:
        await asyncio.sleep(0.05)
    attack.stop.set()
    thread.join()  # its connections are reset: the FEP drops what it has not read
    for client in clients:
        client.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await fep.close()
    station.tick()
    return Run(began, delivered, late_started, attack, station)


def _connect(attack: Attack, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close: reset
    sock.settimeout(0.2)
    try:
        sock.bind((ATTACKER, 0))
        sock.connect(("127.0.0.1", port))
    except OSError:
        attack.failed += 1
        sock.close()
        return None
    attack.opened += 1
    return sock


def _hold_connections(port: int, attack: Attack) -> None:
    """Open up to 200 connections, at most 500 a second, and keep them open in silence."""
    held: list[socket.socket] = []
    while not attack.stop.is_set() and attack.opened + attack.failed < 200:
        sock = _connect(attack, port)
        if sock is not None:
            held.append(sock)
        time.sleep(0.002)
    attack.stop.wait()
    for sock in held:
        sock.close()


def _stream_garbage(port: int, attack: Attack) -> None:
    """Stream 0x68 bytes, 64 KB at a time, on up to 16 connections, the budget spread over the
    window; reconnect when the FEP closes one (at most 500 connections a second)."""
    chunk = b"\x68" * 65536
    open_: list[socket.socket] = []
    rate = BUDGET / (0.8 * WINDOW)
    began = time.monotonic()
    while not attack.stop.is_set() and attack.sent < BUDGET:
        if len(open_) < 16:
            sock = _connect(attack, port)
            time.sleep(0.002)
            if sock is not None:
                open_.append(sock)
            continue
        sock = open_.pop(0)
        try:
            if _closed(sock):
                raise ConnectionResetError
            sock.sendall(chunk)
            attack.sent += len(chunk)
            open_.append(sock)
        except OSError:  # closed by the FEP, or its buffers stay full
            attack.failed += 1
            sock.close()
        time.sleep(max(0.0, attack.sent / rate - (time.monotonic() - began)))
    attack.stop.wait()
    for sock in open_:
        sock.close()


def _closed(sock: socket.socket) -> bool:
    """Whether the FEP has closed this connection (a read would say so at once)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1) == b""  # a reset raises, and counts as closed


@scenario(
    11,
    "fep-connection-flood",
    "a host opens connections to the FEP until it is full, so a terminal cannot get back in",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def connection_flood(protected: bool) -> Outcome:
    run = quiet(lambda: asyncio.run(_run(protected, _hold_connections)))
    denied = run.late_first() is None or run.stall() >= STALL
    return run.outcome(denied, f"a FEP for {CAPACITY} connections, 200 opened by the attacker")


@scenario(
    11,
    "fep-malformed-flood",
    "a host streams undecodable bytes at the FEP to keep it busy decoding",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def malformed_flood(protected: bool) -> Outcome:
    run = quiet(lambda: asyncio.run(_run(protected, _stream_garbage)))
    denied = run.late_first() is None or run.stall() >= STALL
    return run.outcome(denied, f"{BUDGET:,} bytes of 0x68 at the FEP")
