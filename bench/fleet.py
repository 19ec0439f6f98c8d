"""Profile-mode fleet speed and memory, beside the scalar registers and assembled meters.

    python bench/fleet.py [--meters N] [--minutes M] [--seed S] [--date YYYY-MM-DD] [--check]

A mixed fleet (households, PV households, shops, EV chargers; :data:`DEFAULT_MIX`) metered
minute by minute in profile mode: load model, four-quadrant registers per tariff, maximum
demand and minute freezes. Targets (issue text): >= 1,000,000 meter-minutes per second on one
core and <= 20 KB per meter for 10,000 meters over a day.

* Rate: meter-minutes per CPU second (``time.process_time``, so any helper thread counts
  against us), of the whole run, and of the load model alone on the same minutes.
* Memory: the ``tracemalloc`` peak of a second, identical run (model, fleet and every
  temporary, numpy's buffers included) divided by the meters; and the state arrays alone
  (sum of ``nbytes``).
* References measured in the same run: the scalar ``EnergyRegisters`` + ``DemandMeter`` loop
  over the same powers for a few meters, and a few assembled ``Meter`` objects stepped by
  ``MeterFleet`` (with their ``tracemalloc`` size per meter).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import tracemalloc

import numpy as np

from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters
from wattguard.simulation.fleet import MeterFleet
from wattguard.simulation.profile import DEFAULT_MIX, LoadModel
from wattguard.simulation.profile_fleet import ProfileFleet

RATE_TARGET = 1_000_000.0
MEMORY_TARGET = 20_000.0


def profile_run(meters: int, minutes: int, seed: int, start: float) -> tuple[float, ProfileFleet]:
    """CPU seconds for a fresh model and fleet to meter ``minutes`` minutes."""
    begin = time.process_time()
    fleet = ProfileFleet(LoadModel.mixed(meters, seed=seed), start)
    fleet.run(minutes)
    return time.process_time() - begin, fleet


def load_only(meters: int, minutes: int, seed: int, start: float) -> float:
    model = LoadModel.mixed(meters, seed=seed)
    begin = time.process_time()
    for first in range(0, minutes, 15):
        model.power(start + 60.0 * first, min(15, minutes - first))
    return time.process_time() - begin


def peak_bytes(meters: int, minutes: int, seed: int, start: float) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fleet = ProfileFleet(LoadModel.mixed(meters, seed=seed), start)
    fleet.run(minutes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def scalar_rate(meters: int, minutes: int, seed: int, start: float) -> float:
    """Meter-minutes per CPU second of the scalar registers on the same kind of load."""
    model = LoadModel.mixed(meters, seed=seed)
    p, q = model.power(start, minutes)
    fleet = ProfileFleet(model, start)  # for its tariff schedule only
    tariffs = [fleet.schedule.tariff(start + 60.0 * k) for k in range(minutes)]
    begin = time.process_time()
    for i in range(meters):
        registers, demand = EnergyRegisters(4), DemandMeter(tariffs=4)
        for k in range(minutes):
            active = float(p[k, i])
            registers.accumulate(active, float(q[k, i]), 60.0, tariffs[k])
            demand.accumulate(active, 60.0, tariffs[k], start + 60.0 * (k + 1))
    return meters * minutes / (time.process_time() - begin)


def assembled(meters: int, minutes: int, seed: int, start: float) -> tuple[float, float]:
    """(meter-minutes per CPU second, bytes per meter) of assembled meters in a MeterFleet."""
    model = LoadModel.mixed(meters, seed=seed)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    devices = [
        Meter(
            i.to_bytes(6, "big"),
            keys=LinkKeys.generate(os.urandom),
            random=os.urandom,
            config=MeterConfig(protected=False),
        )
        for i in range(1, meters + 1)
    ]
    size = (tracemalloc.get_traced_memory()[0] - before) / meters
    tracemalloc.stop()
    fleet = MeterFleet(devices, model.load)
    fleet.power_up(start)
    begin = time.process_time()
    fleet.run_until(start + 60.0 * minutes)
    return meters * minutes / (time.process_time() - begin), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--date", default="2026-07-15", help="first day (UTC calendar)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    start = dt.datetime.fromisoformat(args.date).replace(tzinfo=dt.UTC).timestamp()
    work = args.meters * args.minutes
    mix = ", ".join(f"{c.name.lower()} {share:.0%}" for c, share in DEFAULT_MIX.items())

    print(f"  profile run: {args.meters} meters x {args.minutes} min ...", file=sys.stderr)
    seconds, fleet = profile_run(args.meters, args.minutes, args.seed, start)
    load_seconds = load_only(args.meters, args.minutes, args.seed, start)
    print("  memory run (tracemalloc) ...", file=sys.stderr)
    peak = peak_bytes(args.meters, args.minutes, args.seed, start)
    print("  references ...", file=sys.stderr, flush=True)
    few = min(20, args.meters)
    scalar = scalar_rate(few, min(args.minutes, 240), args.seed, start)
    meter_rate, meter_bytes = assembled(
        min(5, args.meters), min(args.minutes, 60), args.seed, start
    )

    rate = work / seconds
    per_meter = peak / args.meters
    state = fleet.nbytes() / args.meters
    print(f"fleet: {args.meters} meters ({mix}), {args.minutes} minutes from {args.date}")
    print(f"{'':<44} {'meter-min/s':>12} {'profile is':>11}")
    print(f"{'profile mode, whole (CPU ' + format(seconds, '.2f') + ' s)':<44} {rate:12,.0f}")
    load_rate = work / load_seconds
    print(f"{'  of which the load model alone':<44} {load_rate:12,.0f}")
    print(f"{'scalar EnergyRegisters+DemandMeter, ' + str(few) + ' m':<44} {scalar:12,.0f}", end="")
    print(f" {rate / scalar:9.0f} x")
    print(f"{'assembled Meter in MeterFleet, 5 meters':<44} {meter_rate:12,.0f}", end="")
    print(f" {rate / meter_rate:9.0f} x")
    print(f"memory per meter: {per_meter:,.0f} B (tracemalloc peak of a whole run / meters),")
    print(f"  of which state arrays {state:,.0f} B (nbytes: registers, demand, a day of freezes);")
    print(f"  an assembled Meter: {meter_bytes:,.0f} B (tracemalloc)")
    forward = fleet.forward_active[:, 0].sum() / 3.6e6
    reverse = fleet.reverse_active[:, 0].sum() / 3.6e6
    demand = np.nanmax(fleet.max_demand[0, 0]) / 1000
    print(f"sanity: forward {forward:,.0f} kWh, reverse {reverse:,.0f} kWh, ", end="")
    print(f"largest demand {demand:.1f} kW")
    rate_met, memory_met = rate >= RATE_TARGET, per_meter <= MEMORY_TARGET
    print(f"targets: >= 1,000,000 meter-min/s {'met' if rate_met else 'MISSED'}; ", end="")
    print(f"<= 20 KB per meter {'met' if memory_met else 'MISSED'}")
    return 1 if args.check and not (rate_met and memory_met) else 0


if __name__ == "__main__":
    raise SystemExit(main())
