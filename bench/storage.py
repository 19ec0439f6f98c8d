"""Readings the station's storage inserts per second, in batches of 1,000, beside the plain
sqlite3 loop that does the least any SQLite code could.

    python bench/storage.py [--readings 200000] [--repeat 3] [--postgres URL]

Each line stores ``--readings`` new readings (1,000 meters x 15-minute times) into a fresh
database, one transaction per batch, and prints the best of ``--repeat`` runs in wall-clock
readings per second (the database server's work counts: PostgreSQL runs in another process),
and per CPU second of this process (steadier on a shared machine; for PostgreSQL it leaves
the server's work out):

* reference: ``sqlite3`` ``executemany`` of ``INSERT OR IGNORE`` into the same table, WAL,
  ``synchronous=FULL``, a commit per batch; no checks of the rows;
* SqliteStorage (durable): the same file settings, plus the row checks and normalisation,
  ``ON CONFLICT DO NOTHING`` and the count of new rows;
* SqliteStorage (durable=False): ``synchronous=NORMAL``, which may lose the latest
  transactions (never corrupt the file) on a power cut, not on a crash of the process;
* re-delivery: every batch again, all duplicates (what a terminal's retry costs);
* PostgresStorage: COPY into a temporary table and INSERT ... ON CONFLICT DO NOTHING, into a
  schema of its own that is dropped afterwards; beside it a plain psycopg ``executemany`` loop.

The ratio columns are each line's rate over the reference's.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from wattguard.errors import ConfigError
from wattguard.station.ingest import Reading
from wattguard.station.records import reading_rows
from wattguard.station.storage import PostgresStorage, SqliteStorage

BATCH = 1000
START = 1_790_000_000 - 1_790_000_000 % 86400
POSTGRES_URL = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def batches(count: int) -> list[list[Reading]]:
    """1,000 meters' readings of one 15-minute time per batch."""
    meters = [f"{k:012x}" for k in range(1, BATCH + 1)]
    times = (count + BATCH - 1) // BATCH
    return [
        [Reading(meter, "50020200/00100201", START + 900 * t, 1.25 * t) for meter in meters]
        for t in range(times)
    ]


def rate(run: Callable[[], int], repeat: int) -> tuple[float, float]:
    """Best readings per wall-clock second, and per CPU second of this process, over
    ``repeat`` runs of ``run`` (which returns how many readings it handled)."""
    wall = cpu = 0.0
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        stored = run()
        wall = max(wall, stored / (time.perf_counter() - began))
        cpu = max(cpu, stored / max(time.process_time() - began_cpu, 1e-9))
    return wall, cpu


def plain_sqlite(folder: Path, data: list[list[Reading]]) -> int:
    db = sqlite3.connect(folder / f"{uuid.uuid4().hex}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE readings (meter TEXT NOT NULL, quantity TEXT NOT NULL, "
        "time BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, received DOUBLE PRECISION, "
        "PRIMARY KEY (meter, quantity, time))"
    )
    for batch in data:
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, NULL)",
            [(r.meter, r.quantity, r.time, r.value) for r in batch],
        )
        db.execute("COMMIT")
    stored = int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
    db.close()
    return stored


def storage_run(
    store: SqliteStorage | PostgresStorage, data: list[list[Reading]], again: bool
) -> Callable[[], int]:
    """A run of ``add_readings`` over ``data`` (how many readings it handled); with ``again``,
    on a store that already holds them all."""
    if again:
        for batch in data:
            store.add_readings(batch)

    def run() -> int:
        new = sum(store.add_readings(batch, received=0.0) for batch in data)
        handled = sum(len(batch) for batch in data)
        if new != (0 if again else handled):
            raise SystemExit(f"stored {new} new readings of {handled}")
        return handled

    return run


def plain_psycopg(url: str, data: list[list[Reading]]) -> int:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
        try:
            db.execute(f'SET search_path TO "{schema}"')
            db.execute(
                "CREATE TABLE readings (meter TEXT NOT NULL, quantity TEXT NOT NULL, "
                "time BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, received "
                "DOUBLE PRECISION, PRIMARY KEY (meter, quantity, time))"
            )
            for batch in data:
                with db.transaction(), db.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO readings VALUES (%s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING",
                        [(r.meter, r.quantity, r.time, r.value) for r in batch],
                    )
            return int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])  # type: ignore[index]
        finally:
            db.execute(f'DROP SCHEMA "{schema}" CASCADE')


def postgres_run(url: str, data: list[list[Reading]]) -> int:
    store = PostgresStorage(url, schema=f"bench_{uuid.uuid4().hex[:12]}")
    try:
        return sum(store.add_readings(batch) for batch in data)
    finally:
        store.drop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL URL ('' to skip)")
    args = parser.parse_args()
    data = batches(args.readings)
    total = sum(len(batch) for batch in data)
    print(f"storage: {total:,} readings in batches of {BATCH:,}, best of {args.repeat} "
          "(wall-clock readings/s)")  # fmt: skip

    began = time.perf_counter()
    checked = sum(len(reading_rows(batch, 0.0)) for batch in data)
    print(f"  {'row checks alone':<44} {checked / (time.perf_counter() - began):>10,.0f}")

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        reference = rate(lambda: plain_sqlite(folder, data), args.repeat)
        lines = [("reference: plain sqlite3 executemany", reference)]

        def fresh(durable: bool) -> Callable[[], int]:
            return lambda: storage_run(
                SqliteStorage(str(folder / f"{uuid.uuid4().hex}.db"), durable=durable),
                data, again=False,
            )()  # fmt: skip

        lines.append(("SqliteStorage file (durable)", rate(fresh(True), args.repeat)))
        lines.append(("SqliteStorage file (durable=False)", rate(fresh(False), args.repeat)))
        lines.append(("SqliteStorage memory", rate(
            lambda: storage_run(SqliteStorage(), data, again=False)(), args.repeat
        )))  # fmt: skip
        full = SqliteStorage(str(folder / "again.db"))
        lines.append((
            "SqliteStorage re-delivery (all duplicates)",
            rate(storage_run(full, data, again=True), args.repeat),
        ))  # fmt: skip
        full.close()
        if args.postgres:
            try:
                lines.append(("PostgresStorage (COPY)", rate(
                    lambda: postgres_run(args.postgres, data), args.repeat
                )))  # fmt: skip
                lines.append(("plain psycopg executemany", rate(
                    lambda: plain_psycopg(args.postgres, data), args.repeat
                )))  # fmt: skip
            except ConfigError as exc:
                print(f"  PostgreSQL skipped: {exc}")
    print(f"  {'':<44} {'wall /s':>10} {'ratio':>6} {'CPU /s':>10} {'ratio':>6}")
    for label, (wall, cpu) in lines:
        print(f"  {label:<44} {wall:>10,.0f} {wall / reference[0]:5.2f}x "
              f"{cpu:>10,.0f} {cpu / reference[1]:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
