"""What the dashboard's meters table costs the station with a large fleet: the whole listing
with every meter's latest reading (``GET /api/meters`` and ``GET /api/readings/latest``, what
the page asked for until it was paged) beside one page of 50 (``GET /api/meters/page``) at the
start, the middle and the end of the fleet, and a search.

    python bench/meter_pages.py [--meters 10000] [--readings 96] [--repeat 20] [--postgres URL]

The fleet is registered straight into the station's storage (a SQLite file, then a schema of
its own on PostgreSQL, dropped afterwards) with ``--readings`` energy readings per meter (96: a
day of 15-minute values). Each line is the median wall-clock time of ``--repeat`` requests
through the API (FastAPI's test client: routing, the token check, the JSON; no sockets), and
the size of the answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from wattguard.errors import ConfigError
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.ingest import Reading

START = 1_790_000_000 - 1_790_000_000 % 86400
POSTGRES_URL = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
VIEWER = {"Authorization": "Bearer viewer-token"}


def fleet(database: str, meters: int, readings: int) -> TestClient:
    """The API of a station whose storage holds ``meters`` meters and their readings."""
    config = DeploymentConfig(meters=1, per_terminal=1, start=START, database=database)
    deployment = Deployment(config, virtual_clock(config))
    storage = deployment.station.storage
    addresses = [f"{1_000_000 + k:012d}" for k in range(meters)]
    for k, address in enumerate(addresses):
        storage.register_meter(address, f"99{k // 500:010d}", START)
    for t in range(readings):
        storage.add_readings(
            Reading(a, "00100201", START + 900 * t, k + t / 4) for k, a in enumerate(addresses)
        )
    return TestClient(create_app(deployment.station, deployment.users))


def timed(call: Callable[[], bytes], repeat: int) -> tuple[float, int]:
    """Median milliseconds of ``call``, and the size of its answer."""
    times, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        size = len(call())
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, size


def measure(label: str, api: TestClient, meters: int, repeat: int) -> None:
    def get(*paths: str) -> Callable[[], bytes]:
        def call() -> bytes:
            answers = [api.get(path, headers=VIEWER) for path in paths]
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            return b"".join(a.content for a in answers)

        return call

    middle = f"{1_000_000 + meters // 2:012d}"
    last = f"{1_000_000 + meters - 51:012d}"
    lines = [
        ("whole listing + every latest reading", get("/api/meters", "/api/readings/latest")),
        ("page of 50, first", get("/api/meters/page?limit=50")),
        ("page of 50, middle", get(f"/api/meters/page?limit=50&after={middle}")),
        ("page of 50, last", get(f"/api/meters/page?limit=50&after={last}")),
        ("page of 50, search of 100 meters", get("/api/meters/page?limit=50&q=0000010001")),
    ]
    print(f"{label}:")
    whole = 0.0
    for name, call in lines:
        ms, size = timed(call, repeat)
        whole = whole or ms
        print(f"  {name:<40} {ms:9.2f} ms {size:>12,} bytes {whole / ms:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=96, help="per meter")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL URL ('' to skip)")
    args = parser.parse_args()
    print(f"meter pages: {args.meters:,} meters, {args.readings} readings each, median of "
          f"{args.repeat} (the last column: the whole listing's time over the line's)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        api = fleet(f"sqlite:///{folder}/station.db", args.meters, args.readings)
        measure("SQLite file", api, args.meters, args.repeat)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        separator = "&" if "?" in args.postgres else "?"
        try:
            api = fleet(f"{args.postgres}{separator}schema={schema}", args.meters, args.readings)
        except ConfigError as exc:
            print(f"PostgreSQL skipped: {exc}")
            return
        try:
            measure("PostgreSQL", api, args.meters, args.repeat)
        finally:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as db:
                db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
