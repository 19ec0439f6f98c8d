"""Readings the station verifies and stores per second, with full security and without, per
report and with group commit; the latency from a report to its durable acknowledgement; and
the latency of a remote trip.

    python bench/ingest.py [--meters 200] [--hours 6] [--trips 40] [--database sqlite|URL]
    python bench/ingest.py --targets 18 [--meters 200] [--hours 6]   (bench/ingest_cores.py)

1. Traffic: a virtual deployment runs ``--hours`` with ``--meters`` meters, once protected
   (every meter's answers carry an ESAM MAC) and once unprotected; everything the FEP puts
   on the bus towards the station is captured.
2. Ingest: each capture is replayed, as fast as the station takes it, into a fresh station
   (its own SQLite file, or a fresh schema of ``--database postgresql://...``): decode the
   terminal's reports, verify each meter's MAC through the cryptographic device (protected
   runs), store the readings, acknowledge each report once its readings are durable. Three
   runs: protected with group commit (the station's runtime default), protected committing
   each report on its own (as before group commit), unprotected with group commit. For each:
   readings stored per CPU second and per wall second, commits per reading, and p50/p99 of
   the wall time from a report's frame reaching the station to its acknowledgement going
   back (which includes the commit: nothing is acknowledged before it is durable).
3. Remote trip: a live deployment over loopback TCP at real time; trips and closes are issued
   one after another through the station (authorisation, the cryptographic device, PROXY
   through the terminal, the HPLC model's delays, the ESAM, and back), and the wall time
   until each command is DONE gives p50 and p99.

The load average is printed with the figures: the machine is shared, and CPU seconds are the
fairer measure when others run. Exits non-zero when a target is missed.

``--targets 18`` runs ``bench/ingest_cores.py`` instead: issue #18's targets per ingest
worker core, with the terminals gathering many items per report.

Targets (issues #5 and #18): >= 20,000 verified readings/s per CPU second with group commit,
security overhead <= 1.5x, group commit at least 3x fewer commits per reading than per report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from wattguard.clock import VirtualClock
from wattguard.network.bus import InProcessBus
from wattguard.protocol import decode_apdu, decode_frame
from wattguard.protocol.apdu.report import ReportNotificationTransData, ReportResponseTransData
from wattguard.runtime.deployment import Deployment, DeploymentConfig, live_clock, virtual_clock
from wattguard.station import Station
from wattguard.station.commands import CommandKind, CommandState, Role, User
from wattguard.station.group_commit import GroupCommitConfig
from wattguard.station.storage import PostgresStorage, open_storage
from wattguard.testing import MIDNIGHT as START

Frames = list[tuple[float, str, bytes]]


class ReplayClock(VirtualClock):
    """The captured calendar time (the station judges answers fresh by it), and the real
    monotonic time (group commit's timer and the latencies are real)."""

    def monotonic(self) -> float:
        return time.perf_counter()


@dataclass
class Run:
    stored: int
    cpu: float
    wall: float
    commits: int
    latencies: list[float]


def capture(
    meters: int, hours: float, protected: bool, gather: int = 0
) -> tuple[Frames, Deployment]:
    """What the FEP puts on the bus; with ``gather`` the terminals gather up to that many items
    per REPORT (a collection round goes up as a few full reports, as at utility scale)."""
    config = DeploymentConfig(meters=meters, per_terminal=50, start=START, protected=protected)
    deployment = Deployment(config, virtual_clock(config))
    for net in deployment.nets if gather else ():
        net.terminal.outbox.batch_items, net.terminal.outbox.hold = gather, 120.0
    frames: Frames = []
    deployment.bus.subscribe(
        "up.*", lambda subject, payload: frames.append((deployment.clock.time(), subject, payload))
    )
    deployment.run_virtual(hours * 3600)
    return frames, deployment


def _is(payload: bytes, kind: type) -> bool:
    try:
        return isinstance(decode_apdu(decode_frame(payload).apdu), kind)
    except Exception:  # a frame the station refuses, or several frames in one payload
        return False


def ingest(
    frames: Frames, source: Deployment, database: str, group: GroupCommitConfig | None
) -> Run:
    """Replay into a fresh station as fast as it takes the frames, each at the calendar time it
    was captured at."""
    reports = [_is(payload, ReportNotificationTransData) for _, _, payload in frames]
    bus = InProcessBus()
    storage = open_storage(database)
    clock = ReplayClock(START)
    station = Station(storage, bus, clock, hsm=source.hsm, group_commit=group, balance=False)
    for meter, terminal in source.storage.meters():
        storage.register_meter(meter, terminal, START)
    sent: dict[str, list[float]] = {}  # per terminal: when each report reached the station
    latencies: list[float] = []

    def down(subject: str, payload: bytes) -> None:
        now = time.perf_counter()
        waiting = sent.get(subject.partition(".")[2], [])
        for _ in range(_acknowledgements(payload)):
            if waiting:
                latencies.append(now - waiting.pop(0))

    bus.subscribe("down.*", down)
    stored_reports: list[int] = []  # without group commit, each is one commit
    station.on_readings.append(lambda readings: stored_reports.append(1))
    began, wall = time.process_time(), time.perf_counter()
    for (moment, subject, payload), is_report in zip(frames, reports, strict=True):
        clock.set_time(moment)
        if is_report:
            sent.setdefault(subject.partition(".")[2], []).append(time.perf_counter())
        bus.publish(subject, payload)
        station.tick_ingest()
    station.close()  # commits what is left
    took, wall = time.process_time() - began, time.perf_counter() - wall
    stored = storage.count_readings()
    commits = station.ingest.stats.commits if station.ingest is not None else len(stored_reports)
    _dispose(storage)
    return Run(stored, took, wall, commits, latencies)


def _acknowledgements(payload: bytes) -> int:
    """How many REPORT-Response-TransData frames ``payload`` holds (held acknowledgements go
    down together, several frames in one payload)."""
    count = at = 0
    while at < len(payload):
        end = at + (int.from_bytes(payload[at + 1 : at + 3], "little") & 0x3FFF) + 2
        count += _is(payload[at:end], ReportResponseTransData)
        at = end
    return count


def _dispose(storage: object) -> None:
    if isinstance(storage, PostgresStorage):
        storage.drop()
    storage.close()  # type: ignore[attr-defined]


def fresh(database: str, folder: Path, label: str) -> str:
    if database == "sqlite":
        return f"sqlite:///{folder / (label.replace(' ', '-') + '.db')}"
    separator = "&" if "?" in database else "?"
    return f"{database}{separator}schema=bench_{uuid.uuid4().hex[:12]}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


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


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1e3:.1f}"


def main() -> None:
    import ingest_cores  # here: it imports this module

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--trips", type=int, default=40)
    parser.add_argument(
        "--database", default="sqlite", help="sqlite (a fresh file per run) or a PostgreSQL URL"
    )
    parser.add_argument(
        "--targets", type=int, choices=(5, 18), default=5,
        help="5: the figures above (default); 18: per worker core at utility scale "
        "(bench/ingest_cores.py)",
    )  # fmt: skip
    ingest_cores.arguments(parser)
    args = parser.parse_args()
    if args.targets == 18:
        sys.exit(ingest_cores.run(args))

    print(f"ingest: {args.meters} meters, {args.hours:g} simulated hours of real-time reads and "
          f"15-minute curves into {args.database.split('?')[0]}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    captured = {}
    for protected in (True, False):
        label = "full security" if protected else "security off"
        print(f"  capturing the traffic ({label}) ...", flush=True)
        captured[protected] = capture(args.meters, args.hours, protected)
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, protected, group in (
            ("full security, group commit", True, GroupCommitConfig()),
            ("full security, per report", True, None),
            ("security off, group commit", False, GroupCommitConfig()),
        ):
            frames, source = captured[protected]
            run = runs[label] = ingest(
                frames, source, fresh(args.database, Path(folder), label), group
            )
            print(f"  {label:<28} {run.stored:>9,} readings: {run.stored / run.cpu:>8,.0f}/CPU s "
                  f"{run.stored / run.wall:>8,.0f}/wall s, {run.commits / run.stored:.4f} commits "
                  f"per reading, report to durable ack p50 {_ms(run.latencies, 0.5)} ms, "
                  f"p99 {_ms(run.latencies, 0.99)} ms "
                  f"({len(run.latencies):,} reports)", flush=True)  # fmt: skip
    grouped, single = runs["full security, group commit"], runs["full security, per report"]
    rate = grouped.stored / grouped.cpu
    ratio = (
        runs["security off, group commit"].stored / runs["security off, group commit"].cpu
    ) / rate
    fewer = (single.commits / single.stored) / (grouped.commits / grouped.stored)
    print(f"  verified readings/s {rate:,.0f} (target >= 20,000); security overhead {ratio:.2f}x "
          f"(target <= 1.5x); group commit: {fewer:.1f}x fewer commits per reading (target >= 3), "
          f"{(grouped.stored / grouped.wall) / (single.stored / single.wall):.2f}x the wall "
          f"rate of committing each report")  # fmt: skip
    print(f"  load average after the ingest runs: {os.getloadavg()[0]:.1f}")
    missed = rate < 20_000 or ratio > 1.5 or fewer < 3

    if args.trips:
        latencies = asyncio.run(trips(args.trips))
        ms = sorted(x * 1000 for x in latencies)
        print(f"remote trip over loopback TCP at real time ({len(ms)} commands, station to relay "
              f"and back): p50 {statistics.median(ms):.0f} ms, "
              f"p99 {percentile(ms, 0.99):.0f} ms")  # fmt: skip
    if missed:
        sys.exit("ingest: a target was missed")


if __name__ == "__main__":
    main()
