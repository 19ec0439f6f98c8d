"""The station's orderly-charging job and its OCPP delivery, timed.

    python bench/charging_job.py [--piles 200] [--charge-points 50] [--seed 17]

One district of ``--piles`` 7 kW piles behind 630 kVA (power factor 0.95), 15-minute steps,
28 days of simulated household base load (:mod:`wattguard.simulation.district`). Measured:

* ``begin``: the day-ahead forecast and the first plan, the forecast with one OpenMP thread
  per core (``threads=os.cpu_count()``, scikit-learn's default) and with the library's own
  default of one (the first figure shows why it is the default);
* a re-plan per EV plugging in (each of ``--piles`` EVs in turn, from 17:00), median and worst;
* OCPP: ``--charge-points`` simulated charge points on loopback websockets (Basic auth), the
  time for the central system to deliver one interval's limits to all of them and have every
  answer back, median and worst over 10 intervals.

Targets (exit status 1 when missed): the worst re-plan <= 2 s (the issue's solve-time target
per district-day) and one interval's delivery to every charge point <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from wattguard.analytics.forecast import day_ahead
from wattguard.clock import VirtualClock
from wattguard.events import EventLog
from wattguard.runtime.ocpp_charger import charge_point
from wattguard.runtime.ocpp_server import CentralSystem, wait_for
from wattguard.simulation.charger import ChargerModel
from wattguard.simulation.district import simulate_districts
from wattguard.station.chargepoints import ChargePointRegistry
from wattguard.station.charging import DistrictCharging, PileSpec

STEP, SPD = 900, 96
CAPACITY_KW = 630.0 * 0.95
REPLAN_TARGET_S = 2.0
DELIVERY_TARGET_S = 1.0
T0 = 1_796_515_200.0  # a midnight (UTC)


def base_history(seed: int) -> np.ndarray:
    """28 days of a 300-household district's load (kW per 15 minutes), its EVs left out."""
    sim = simulate_districts(1, 300, 28, seed=seed, mix=(0.65, 0.15, 0.2, 0.0))
    return np.asarray(np.nansum(sim.curves, axis=0) * 4.0, dtype=np.float64)


def time_job(piles: int, seed: int) -> tuple[float, float, list[float]]:
    """(forecast s with scikit-learn's threads, begin s, re-plan s per plug-in)."""
    history = base_history(seed)
    began = time.perf_counter()
    day_ahead(history, SPD, threads=os.cpu_count() or 1)
    free = time.perf_counter() - began
    price = np.where((np.arange(SPD) // 4 >= 8) & (np.arange(SPD) // 4 < 22), 0.9, 0.35)
    specs = [PileSpec(f"{i:012d}", 7.0, comfort_per_kw=1.0 + i % 5) for i in range(piles)]
    job = DistrictCharging("000000000001", CAPACITY_KW, STEP, price, specs,
                           {s.name: lambda *_: None for s in specs})  # fmt: skip
    began = time.perf_counter()
    job.begin(T0, history)
    begin = time.perf_counter() - began
    rng = np.random.default_rng(seed)
    replans = []
    for i, spec in enumerate(specs):
        now = T0 + (68 + i * 20 // piles) * STEP
        began = time.perf_counter()
        job.plug_in(spec.name, float(rng.lognormal(np.log(12), 0.4)), T0 + SPD * STEP, now)
        replans.append(time.perf_counter() - began)
    return free, begin, replans


async def time_ocpp(count: int) -> list[float]:
    """Seconds to deliver one interval's limits to ``count`` charge points, 10 intervals."""
    clock = VirtualClock(T0)
    registry = ChargePointRegistry(EventLog())
    keys = {f"CP-{i:04d}": f"key-{i:04d}-{os.urandom(8).hex()}" for i in range(count)}
    for cp_id, key in keys.items():
        registry.enrol(cp_id, key, salt=os.urandom(16))
    async with CentralSystem(registry, clock) as central:
        deliver = central.delivery(STEP)
        points = [
            charge_point(central.url, cp_id, key, ChargerModel(7000.0), clock, EventLog())
            for cp_id, key in keys.items()
        ]
        devices = [await point.__aenter__() for point in points]
        try:
            await asyncio.gather(*(device.boot() for device in devices))
            await wait_for(lambda: len(central.sessions) == count, 30)
            seconds = []
            for interval in range(10):
                began = time.perf_counter()
                for cp_id in keys:
                    deliver(cp_id, 3.7 + interval % 3)
                await wait_for(lambda n=interval: len(central.answers) >= (n + 1) * count, 30)
                seconds.append(time.perf_counter() - began)
            assert all(status == "Accepted" for _, _, status in central.answers)
            return seconds
        finally:
            for point in reversed(points):
                await point.__aexit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--piles", type=int, default=200)
    parser.add_argument("--charge-points", type=int, default=50)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    free, begin, replans = time_job(args.piles, args.seed)
    with threadpool_limits(1):
        delivery = asyncio.run(time_ocpp(args.charge_points))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"forecast with scikit-learn's own threads: {free:.2f} s")
    print(f"begin (forecast on one thread + first plan): {begin:.2f} s")
    print(f"re-plan per plug-in ({args.piles} EVs): median {statistics.median(replans):.3f} s, "
          f"worst {max(replans):.3f} s (target <= {REPLAN_TARGET_S} s)")  # fmt: skip
    print(f"OCPP delivery of one interval to {args.charge_points} charge points: median "
          f"{statistics.median(delivery):.3f} s, worst {max(delivery):.3f} s "
          f"(target <= {DELIVERY_TARGET_S} s)")  # fmt: skip
    missed = max(replans) > REPLAN_TARGET_S or max(delivery) > DELIVERY_TARGET_S
    print("targets: MISSED" if missed else "targets: met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
