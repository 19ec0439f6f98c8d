"""Readings the station verifies and stores per second, with full security and without; and
the latency of a remote trip.

    python bench/ingest.py [--meters 200] [--hours 6] [--trips 40] [--database sqlite:///x.db]

1. Traffic: a virtual deployment runs ``--hours`` with ``--meters`` meters, once protected
   (every meter's answers carry an ESAM MAC) and once unprotected; everything the FEP puts
   on the bus towards the station is captured.
2. Ingest: each capture is replayed into a fresh station (its own SQLite file unless
   ``--database`` says otherwise): decode the terminal's reports, verify each meter's MAC
   through the cryptographic device (protected run), store the readings. Readings stored per
   CPU second are printed for both, and their ratio: the cost of the protection.
3. Remote trip: a live deployment over loopback TCP at real time; trips and closes are issued
   one after another through the station (authorisation, the cryptographic device, PROXY
   through the terminal, the HPLC model's delays, the ESAM, and back), and the wall time
   until each command is DONE gives p50 and p99.

Targets (issue #5): >= 20,000 verified readings/s with SQLite, overhead <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from wattguard.clock import VirtualClock
from wattguard.network.bus import InProcessBus
from wattguard.runtime.deployment import Deployment, DeploymentConfig, live_clock, virtual_clock
from wattguard.station import Station
from wattguard.station.commands import CommandKind, CommandState, Role, User
from wattguard.station.storage import open_storage
from wattguard.testing import MIDNIGHT as START

Frames = list[tuple[float, str, bytes]]


def capture(meters: int, hours: float, protected: bool) -> tuple[Frames, Deployment]:
    config = DeploymentConfig(meters=meters, per_terminal=50, start=START, protected=protected)
    deployment = Deployment(config, virtual_clock(config))
    frames: Frames = []
    deployment.bus.subscribe(
        "up.*", lambda subject, payload: frames.append((deployment.clock.time(), subject, payload))
    )
    deployment.run_virtual(hours * 3600)
    return frames, deployment


def ingest(frames: Frames, source: Deployment, database: str) -> tuple[int, float]:
    """Replay into a fresh station, each frame at the time it was captured (the station judges
    answers fresh by its clock); (readings stored, CPU seconds)."""
    bus = InProcessBus()
    storage = open_storage(database)
    clock = VirtualClock(START)
    Station(storage, bus, clock, hsm=source.hsm)  # subscribes to the bus
    for meter, terminal in source.storage.meters():
        storage.register_meter(meter, terminal, START)
    began = time.process_time()
    for moment, subject, payload in frames:
        clock.set_time(moment)
        bus.publish(subject, payload)
    took = time.process_time() - began
    stored = storage.count_readings()
    storage.close()
    return stored, took


async def trips(count: int) -> list[float]:
    config = DeploymentConfig(meters=10, per_terminal=10, speed=1.0)
    deployment = Deployment(config, live_clock(config))
    operator = User("otto", Role.OPERATOR)
    meters = [address for address, _ in deployment.storage.meters()]
    latencies: list[float] = []
    runner = asyncio.create_task(deployment.run_live(None, lambda summary: None))
    await asyncio.sleep(2.0)  # the terminal logs in
    for k in range(count):
        kind = CommandKind.TRIP if k % 2 == 0 else CommandKind.CLOSE
        began = time.perf_counter()
        command = deployment.station.issue(operator, kind, (meters[k % len(meters)],))
        while deployment.station.commands.get(command.id).state == CommandState.SENT:
            await asyncio.sleep(0.001)
        latencies.append(time.perf_counter() - began)
        final = deployment.station.commands.get(command.id)
        if final.state != CommandState.DONE:
            raise SystemExit(f"trip {k} failed: {final.results}")
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--trips", type=int, default=40)
    parser.add_argument("--database", default=None, help="storage URL (a fresh SQLite file)")
    args = parser.parse_args()

    print(f"ingest: {args.meters} meters, {args.hours:g} simulated hours of real-time reads and "
          "15-minute curves")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for protected in (True, False):
            label = "full security" if protected else "security off"
            print(f"  capturing the traffic ({label}) ...", flush=True)
            frames, source = capture(args.meters, args.hours, protected)
            database = args.database or f"sqlite:///{Path(folder) / (label + '.db')}"
            stored, took = ingest(frames, source, database)
            results[protected] = stored / took
            print(f"  {label:<14} {stored:>9,} readings stored in {took:6.2f} CPU s: "
                  f"{stored / took:>9,.0f} readings/s", flush=True)  # fmt: skip
    ratio = results[False] / results[True]
    print(f"  security overhead: {ratio:.2f}x (target <= 1.5x); verified readings/s "
          f"{results[True]:,.0f} (target >= 20,000)")  # fmt: skip

    latencies = asyncio.run(trips(args.trips))
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"remote trip over loopback TCP at real time ({len(ms)} commands, station to relay "
          f"and back): p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
