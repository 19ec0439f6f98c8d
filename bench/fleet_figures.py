"""The fleet's figures (``/api/fleet``, ``/api/fleet/load``) on a station database: a fleet's
15-minute curves stored as terminals leave them, then the day's total load and collection
completeness timed as one SQL aggregate each, against the reference a client would otherwise
run (each meter's curve read, summed and counted in Python), with their results compared.

    python bench/fleet_figures.py [--meters 1000] [--days 3] [--database URL] [--ratio 2]

Exits non-zero when an aggregate is not ``--ratio`` times faster than its reference, or when
they disagree."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from wattguard.station.fleet import CURVE, completeness, day_span, fleet_load
from wattguard.station.ingest import Reading
from wattguard.station.storage import PostgresStorage, Storage, open_storage

START = 1_796_515_200  # a UTC midnight
Q = 900


def fill(storage: Storage, meters: int, days: int) -> list[str]:
    addresses = [f"0000{k:08d}" for k in range(meters)]
    for k, address in enumerate(addresses):
        storage.register_meter(address, f"99{k // 100:010d}", START - 1)
    for k, address in enumerate(addresses):
        # every 37th meter misses one quarter hour in ten: the completeness is not 100 %
        storage.add_readings(
            Reading(address, CURVE, START + t * Q, t * (0.05 + k % 7 / 100))
            for t in range(days * 96 + 1)
            if k % 37 or t % 10
        )
    return addresses


def timed(run: Callable[[], Any], times: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(times):
        began = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - began)
    return best, out


def reference_load(storage: Storage, meters: list[str], start: int, end: int) -> dict[int, float]:
    totals: dict[int, float] = {}
    for meter in meters:
        rows = sorted(storage.readings(meter, CURVE, start - Q, end + 1, 100_000),
                      key=lambda r: r.time)  # fmt: skip
        for a, b in pairwise(rows):
            if b.time - a.time == Q and b.time > start and b.value >= a.value:
                totals[b.time] = totals.get(b.time, 0.0) + b.value - a.value
    return totals


def reference_arrived(storage: Storage, meters: list[str], start: int, end: int) -> int:
    return sum(len(storage.readings(m, CURVE, start + 1, end + 1, 100_000)) for m in meters)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--database", default=None)
    parser.add_argument("--ratio", type=float, default=2.0)
    args = parser.parse_args()
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'station.db'}"
    storage = _open(url)
    try:
        return run(args, url, storage)
    finally:
        if isinstance(storage, PostgresStorage):
            storage.drop()
        storage.close()


def _open(url: str) -> Storage:
    # PostgreSQL: tables in a schema of their own, dropped at the end
    if url.startswith("postgresql"):
        return PostgresStorage(url, schema=f"bench_fleet_{os.getpid()}")
    return open_storage(url)


def _settle(storage: Storage) -> None:
    """What autovacuum does to a live PostgreSQL database soon after a load: the visibility map
    and the statistics (without them no index-only scan skips the table)."""
    if not isinstance(storage, PostgresStorage):
        return
    import psycopg

    with psycopg.connect(storage.url, autocommit=True) as db:
        db.execute(f'SET search_path TO "{storage.schema}"')
        db.execute("VACUUM ANALYZE readings")


def run(args: argparse.Namespace, url: str, storage: Storage) -> int:
    """Store the fleet, time the figures and their references; 0 if the target is met."""
    began = time.perf_counter()
    meters = fill(storage, args.meters, args.days)
    _settle(storage)
    print(f"stored {args.meters} meters x {args.days} days of curve "
          f"in {time.perf_counter() - began:.1f} s ({url.split(':')[0]})")  # fmt: skip
    day = datetime.fromtimestamp(START + (args.days - 1) * 86400, UTC).date()
    start, end = day_span(day)
    now = end + 2 * Q
    load_s, load = timed(lambda: fleet_load(storage, start, end, Q))
    ref_s, ref = timed(lambda: reference_load(storage, meters, start, end), 1)
    agree = len(load) == len(ref) and all(abs(p.energy - ref[p.time]) < 1e-6 for p in load)
    print(
        f"load of a day: aggregate {load_s * 1000:.0f} ms, per-meter reference "
        f"{ref_s * 1000:.0f} ms: {ref_s / load_s:.1f}x; {len(load)} points, agree: {agree}"
    )
    done_s, (fleet, _) = timed(lambda: completeness(storage, day, now, Q))
    cref_s, arrived = timed(lambda: reference_arrived(storage, meters, start, end), 1)
    print(f"completeness of a day: aggregate {done_s * 1000:.0f} ms, per-meter reference "
          f"{cref_s * 1000:.0f} ms: {cref_s / done_s:.1f}x; {fleet.arrived} of {fleet.expected} "
          f"({100 * (fleet.share or 0):.1f} %), reference arrived {arrived}")  # fmt: skip
    ok = agree and fleet.arrived == arrived
    ok = ok and ref_s / load_s >= args.ratio and cref_s / done_s >= args.ratio
    verdict = "met" if ok else "MISSED"
    print(f"target (each aggregate >= {args.ratio:.1f}x its reference, same results): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
