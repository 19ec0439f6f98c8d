"""Simulated districts written into a station database as a terminal would leave them: each
meter's 15-minute curve as cumulative energy at every quarter hour (``50020200/00100201``)
and its day freezes at midnight (``50040200/00100201``), the district's supply meter registered
with the class ``"district"``, and the customers' voltages (``50020200/20000201``) when the
simulation has them. For the analytics job's tests and the ``wattguard analyse``
example; the simulation's truth stays with the caller."""

from __future__ import annotations

import numpy as np

from wattguard.simulation.district import SimulatedDistricts
from wattguard.station.analysis import CURVE_VOLTAGE, DAY_ENERGY, DISTRICT_CLASS
from wattguard.station.balance import CURVE_ENERGY
from wattguard.station.ingest import Reading
from wattguard.station.storage import Storage

__all__ = ["customer_address", "store_districts", "supply_address", "terminal_address"]


def terminal_address(district: int) -> str:
    """The terminal (and district name) of simulated district ``district`` (0-based)."""
    return f"99{district + 1:010d}"


def customer_address(district: int, index: int) -> str:
    """The address of customer ``index`` (0-based) of ``district``."""
    return f"{district + 1:06d}{index + 1:06d}"


def supply_address(district: int) -> str:
    """The address of ``district``'s supply meter."""
    return f"{district + 1:06d}000000"


def store_districts(
    storage: Storage, sim: SimulatedDistricts, start: int, *, days: slice | None = None
) -> list[str]:
    """Register the districts' meters and store their readings from UTC midnight ``start``
    (``days``: only those days' readings); the customers' addresses, in the simulation's
    order."""
    steps = sim.steps_per_day
    step = 86400 // steps
    rows = np.concatenate([sim.curves, sim.supply]).astype(np.float64)
    names: list[str] = []
    counters = np.zeros(sim.district.size, dtype=np.intp)
    for d in sim.district:
        names.append(customer_address(int(d), int(counters[d])))
        counters[d] += 1
    addresses = list(names)
    names += [supply_address(d) for d in range(sim.supply.shape[0])]
    terminals = [terminal_address(int(d)) for d in sim.district]
    terminals += [terminal_address(d) for d in range(sim.supply.shape[0])]
    for i, (name, terminal) in enumerate(zip(names, terminals, strict=True)):
        kind = DISTRICT_CLASS if i >= len(addresses) else None
        storage.register_meter(name, terminal, float(start), kind)
    cumulative = 1000.0 + np.concatenate([np.zeros((rows.shape[0], 1)), rows.cumsum(axis=1)], 1)
    chosen = range(sim.days) if days is None else range(sim.days)[days]
    for day in chosen:
        first = day * steps
        last = first + steps + 1  # the day's end too (the next day repeats it: ignored)
        batch = [
            Reading(name, CURVE_ENERGY, start + k * step, float(cumulative[i, k]))
            for i, name in enumerate(names)
            for k in range(first, last)
        ]
        batch += [
            Reading(name, DAY_ENERGY, start + k * step, float(cumulative[i, k]))
            for i, name in enumerate(names)
            for k in (first, first + steps)
        ]
        if sim.voltage is not None:
            batch += [
                Reading(name, CURVE_VOLTAGE, start + k * step, float(sim.voltage[i, k]))
                for i, name in enumerate(addresses)
                for k in range(first, first + steps)
            ]
        storage.add_readings(batch)
    return addresses
