"""The station's analytics job on a station database: simulated districts stored as a terminal
leaves them (cumulative 15-minute curves and day freezes), then the job takes them in, day
by day, and one more day is timed on its own.

    python bench/analysis_job.py [--districts 20] [--meters 50] [--days 30] [--database URL]

Prints the storing time (not the job's), the job's time for all the days, the time of one more
day for the whole fleet, and the localisation figure on these districts (the irregular meter
ranked first by the stored errors)."""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from wattguard.simulation.district import Irregularity, simulate_districts
from wattguard.station.analysis import AnalysisJob
from wattguard.station.analysis_views import district_view
from wattguard.station.storage import open_storage
from wattguard.testing.analysis import store_districts, terminal_address

DAY = 86400
START = 1_796_515_200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = args.database or f"sqlite:///{Path(folder) / 'station.db'}"
    sim = simulate_districts(args.districts, args.meters, args.days + 1, seed=16)
    storage = open_storage(url)
    began = time.perf_counter()
    customers = store_districts(storage, sim, START, days=slice(0, args.days))
    took = time.perf_counter() - began
    print(f"stored {sim.curves.shape[0]} meters x {args.days} days in {took:.1f} s")
    job = AnalysisJob(storage)
    began = time.perf_counter()
    done = job.run(START + args.days * DAY + 7200)
    took = time.perf_counter() - began
    print(f"job: {done} district-days in {took:.1f} s ({took / max(args.days, 1):.2f} s a day)")
    store_districts(storage, replace(sim), START, days=slice(args.days, args.days + 1))
    began = time.perf_counter()
    job.run(START + (args.days + 1) * DAY + 7200)
    print(f"one more day, whole fleet (clustering included): {time.perf_counter() - began:.2f} s")
    first = total = 0
    for d in range(args.districts):
        members = np.flatnonzero(sim.district == d)
        odd = [m for m in members if sim.truth.irregularity[m] != Irregularity.NONE]
        view = district_view(job, terminal_address(d))
        if not odd or view is None:
            continue
        total += 1
        first += view["suspects"][0]["meter"] == customers[odd[0]]
    print(f"irregular meter ranked first in {first}/{total} districts ({args.days + 1} days)")
    storage.close()


if __name__ == "__main__":
    main()
