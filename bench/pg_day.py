"""How PostgreSQL's cost of storing a reading grows over a utility-scale day, with the readings'
key in the order they arrive in (schema version 15) beside the former order.

    python bench/pg_day.py [--meters 100000] [--hours 24] [--span 2] [--only current]

For each layout, a schema of its own on the server of ``WATTGUARD_POSTGRES_URL`` made by the
station's own migrations (so the indexes are exactly the station's), and the day's partition
made as the runtime makes it. Then the day is stored as the collection brings it: every 15
minutes each meter's eleven values of that time (five energy registers and a voltage of the
real-time read, the curve row's five registers: what ``bench/chain.py``'s meters serve, about
1,057 a meter a day), meter by meter in address order, ``INSERT ... ON CONFLICT DO NOTHING``
into the partitioned table, one transaction per 15 minutes. The rows are made by the server
(``unnest``): no client, network or COPY in the figure, only what the table and its indexes
cost, which is the part that grows.

Printed per ``--span`` hours: the CPU seconds of every PostgreSQL process of the machine (the
backend, the checkpointer, the WAL writer, autovacuum) per row stored, and the full-page
images the WAL took per row, for each layout:

* current: the primary key ``(meter, time, quantity)``, the curve's partial index, the
  reading tail's ``txid`` index (``station.partitions``, "Which query uses which index");
* former: the primary key ``(meter, quantity, time)`` and a ``(meter, time)`` index, as before
  version 15 (the reference, made in the same run).

Exit status 1 when the current layout's last span costs more than 1.6 times its first (the
cost grows with the day), or more than the former layout's last span. Run it on a quiet
machine: the CPU of every PostgreSQL process counts. A full day at 100,000 meters stores about
106 million rows per layout (about 15 and 25 minutes here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chain_roles import meter_addresses

from wattguard.station.storage import PostgresStorage

POSTGRES_URL = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = 1_784_073_600  # 2026-07-15 00:00 UTC, as bench/chain.py
STEP = 900
PER_TERMINAL = 250
REAL_TIME = ["00100201", "00100202", "00100203", "00100204", "00100205", "20000201"]
CURVE = [f"50020200/0010020{k}" for k in range(1, 6)]
GROWTH_TARGET = 1.6
TICK = os.sysconf("SC_CLK_TCK")
FORMER = (
    "ALTER TABLE readings DROP CONSTRAINT readings_pkey",
    "ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (meter, quantity, time)",
    "CREATE INDEX readings_meter_time ON readings (meter, time)",
)
STORE = (
    "INSERT INTO readings (meter, quantity, time, value, received) "
    "SELECT m.meter, q.quantity, %s, %s, %s FROM bench_meters m, "
    "unnest(%s::text[]) WITH ORDINALITY AS q (quantity, k) ORDER BY m.meter, q.k "
    "ON CONFLICT DO NOTHING"
)


def meters(count: int) -> list[str]:
    """``bench/chain.py``'s addresses, as the station stores them (hex)."""
    return [address.hex() for address in meter_addresses(count, PER_TERMINAL)]


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine so far."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if not stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICK


def run(layout: str, addresses: list[str], hours: float, span: float) -> list[tuple[float, float]]:
    """Store the day in a fresh schema of ``layout``; (CPU us, full-page images) per row for
    each span."""
    schema = f"bench_pg_day_{layout}_{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(POSTGRES_URL, schema=schema)
    try:
        storage.maintain(START)  # the day's partition, as the runtime makes it ahead
        with storage._write() as cur:  # the station's own connection and schema
            if layout == "former":
                for statement in FORMER:
                    cur.execute(statement)
            cur.execute("CREATE TABLE bench_meters (meter TEXT NOT NULL)")
            with cur.copy("COPY bench_meters (meter) FROM STDIN") as copy:
                copy.write("".join(f"{m}\n" for m in addresses))
        db = storage._connection()
        quantities = REAL_TIME + CURVE
        steps = int(hours * 3600 // STEP)
        per_span = max(1, int(span * 3600 // STEP))
        figures = []
        wal = db.execute("SELECT wal_fpi FROM pg_stat_wal").fetchone()[0]
        cpu, began, rows = postgres_cpu(), time.monotonic(), 0
        for step in range(steps):
            at = START + step * STEP
            with db.transaction():
                rows += db.execute(STORE, (at, 1.25 * step, at + 1.0, quantities)).rowcount
            if (step + 1) % per_span == 0 or step + 1 == steps:
                now_cpu = postgres_cpu()
                now_wal = db.execute("SELECT wal_fpi FROM pg_stat_wal").fetchone()[0]
                figures.append(((now_cpu - cpu) / rows * 1e6, (now_wal - wal) / rows))
                hour = (step + 1) * STEP / 3600
                print(f"  {layout:7s} to hour {hour:5.1f}: {figures[-1][0]:6.2f} us a row, "
                      f"{figures[-1][1]:.2f} full-page images a row "
                      f"({time.monotonic() - began:.0f} s)", flush=True)  # fmt: skip
                cpu, wal, rows = now_cpu, now_wal, 0
        return figures
    finally:
        with storage._write() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        storage.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--span", type=float, default=2.0, help="hours per printed figure")
    parser.add_argument("--only", choices=("current", "former"), help="one layout")
    args = parser.parse_args()
    addresses = meters(args.meters)
    layouts = [args.only] if args.only else ["current", "former"]
    print(f"{args.meters:,} meters x {args.hours:g} h, {len(REAL_TIME) + len(CURVE)} values "
          f"a meter every 15 minutes, PostgreSQL at {POSTGRES_URL}", flush=True)  # fmt: skip
    results = {layout: run(layout, addresses, args.hours, args.span) for layout in layouts}
    failed = []
    for layout, figures in results.items():
        first, last = figures[0][0], figures[-1][0]
        print(f"{layout}: first span {first:.2f} us a row, last {last:.2f} "
              f"(x{last / first:.2f} over the day)")  # fmt: skip
    current = results.get("current")
    if current is not None:
        growth = current[-1][0] / current[0][0]
        if growth > GROWTH_TARGET:
            failed.append(f"the current layout's cost grew x{growth:.2f} (target x{GROWTH_TARGET})")
        former = results.get("former")
        if former is not None:
            print(f"last span, current over former: x{current[-1][0] / former[-1][0]:.2f}")
            if current[-1][0] > former[-1][0]:
                failed.append("the current layout costs more than the former at the day's end")
    for failure in failed:
        print(f"TARGET MISSED: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
