"""Orderly charging in ``wattguard station``: the districts and piles from a JSON file, one
:class:`~wattguard.station.charging.DistrictCharging` per district run on the station's tick,
limits delivered as pile-limit commands, the jobs' state kept across a restart.

The file (``wattguard station --charging FILE``)::

    {"districts": [{"district": "990000000001", "capacity_kw": 600,
                    "base_kw": [96 values, or one], "price": [96 values, or one],
                    "piles": [{"meter": "000001000001", "max_kw": 7}, ...]}]}

``base_kw`` is the district's typical base load per 15-minute interval of a day from
noon UTC (one value: flat). The forecast's history is the district supply meter's stored
15-minute curve of the week before (``50020200/00100201``) when the station has at least a
day of it, else ``base_kw`` repeated over a week; the job's state (``history_source`` in the
API) says which. Each pile's draw is its meter's readings: the pile energy (FF13) the meter
freezes in its 15-minute curve, stored as its terminal collects it
(:mod:`wattguard.station.pile_readings`). The station has each district's terminal collect
its pile meters' curve with a 6014 scheme and 6012 task
(:mod:`wattguard.runtime.pile_collection`); adding FF13 to a meter's curve is part of fitting
its pile (5002 method 4). An interval is observed once every pile's readings of it are
stored, or 45 minutes after it ended with the missing ones counted missing, never taken from
the limits. Where the station knows the district's supply meter, the interval's base load
is measured: the supply meter's energy over the interval from its curve (or, without it, its
mean power over its two latest real-time forward-energy readings, 0010 read every 15 minutes
under the meter's MAC) less what the piles drew by their readings (unknown when one is
missing); a base load off the forecast re-plans the rest of the horizon. EVs are plugged
in and out through the API (``POST /api/charging/{district}/sessions``). Each day at noon
UTC a new horizon begins (EVs charge overnight: few sessions cross noon); an EV still
plugged in then keeps what it still needs, due four hours into the new horizon. At start a
job resumes the state its district saved if it is of the same horizon
(:mod:`wattguard.station.charging_state`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wattguard.errors import ConfigError
from wattguard.runtime.charging_runtime import OWNER
from wattguard.runtime.pile_collection import PileCollection
from wattguard.station import Station
from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.station.charging_state import dump, restore
from wattguard.station.pile_limits import PileLimits
from wattguard.station.pile_readings import SUPPLY_CURVE, ReadingsObserver, curve_history
from wattguard.station.storage import StorageError

__all__ = ["StationCharging", "load_charging"]

log = logging.getLogger(__name__)
STEP, STEPS, DAY = 900, 96, 86_400.0
NOON = 43_200.0
CARRIED = 4 * 3600.0  # when an EV carried into a new horizon is due
#: The supply meter's forward active energy as the real-time collection stores it (kWh).
SUPPLY_ENERGY = "00100201"


def _horizon(now: float) -> float:
    """The start of the horizon holding ``now``: the last noon UTC."""
    return now - (now - NOON) % DAY


def _day_values(raw: Any, what: str) -> np.ndarray:
    values = np.asarray(raw if isinstance(raw, list) else [raw], dtype=np.float64)
    if values.size == 1:
        values = np.full(STEPS, float(values[0]))
    if values.shape != (STEPS,) or not np.isfinite(values).all() or (values < 0).any():
        raise ConfigError(f"{what} is one value or {STEPS}, finite and not negative")
    return values


def _district(entry: Any) -> tuple[str, float, np.ndarray, np.ndarray, list[PileSpec]]:
    if not isinstance(entry, dict):
        raise ConfigError("each district is an object")
    name = str(entry.get("district", "")).lower()
    if len(name) != 12 or any(c not in "0123456789abcdef" for c in name):
        raise ConfigError(f"a district is its terminal's address, 12 hex digits, not {name!r}")
    capacity = float(entry.get("capacity_kw", 0))
    if not 0 < capacity < 1e6:
        raise ConfigError(f"district {name}: capacity_kw must be positive")
    piles = []
    for pile in entry.get("piles", []):
        meter, max_kw = str(pile.get("meter", "")).lower(), float(pile.get("max_kw", 0))
        if len(meter) != 12 or not 0 < max_kw <= 1000:
            raise ConfigError(f"district {name}: a pile is a meter address and max_kw (0, 1000]")
        piles.append(PileSpec(meter, max_kw, float(pile.get("comfort_per_kw", 1.0))))
    if not piles:
        raise ConfigError(f"district {name} has no piles")
    base = _day_values(entry.get("base_kw", 0.0), f"district {name}: base_kw")
    price = _day_values(entry.get("price", 1.0), f"district {name}: price")
    return name, capacity, base, price, piles


def load_charging(path: Path) -> list[tuple[str, float, np.ndarray, np.ndarray, list[PileSpec]]]:
    """The districts of a charging file: (district, capacity kW, base kW per interval,
    price per interval, piles); :class:`ConfigError` saying what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the charging file {path}: {exc}") from None
    districts = document.get("districts") if isinstance(document, dict) else None
    if not isinstance(districts, list) or not districts:
        raise ConfigError(f'{path}: expected {{"districts": [...]}} with at least one')
    try:
        return [_district(entry) for entry in districts]
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


class StationCharging:
    """The station's orderly-charging jobs (see the module): :meth:`tick` each second."""

    def __init__(self, station: Station, path: Path) -> None:
        self.station = station
        self.limits = PileLimits(station.issue, station.commands.get, OWNER)
        self.base: dict[str, np.ndarray] = {}
        self.observers: dict[str, ReadingsObserver] = {}
        now = station.clock.time()
        saved = station.storage.charging_states()
        start = _horizon(now)
        for name, capacity, base, price, piles in load_charging(path):
            job = DistrictCharging(name, capacity, STEP, price, piles,
                                   dict.fromkeys((p.name for p in piles), self.limits))  # fmt: skip
            job.delivery_status = self.limits.view
            self.base[name] = base
            self._begin(name, job, start)
            state = saved.get(name)
            if state is not None and state[1].get("start") == start:
                restore(job, state[1], now)
                log.info("charging: district %s resumed its sessions", name)
            station.charging[name] = job
            observer = ReadingsObserver(station.storage, job, self._base_of(name))
            observer.next = job.interval(now)  # the intervals before the start are not seen
            self.observers[name] = observer
        self.interval = int(now // STEP)
        self.plans = {name: -1 for name in self.base}
        self.collection = PileCollection(
            station, {name: list(job.piles) for name, job in station.charging.items()
                      if name in self.base}
        )  # fmt: skip

    def _begin(self, name: str, job: DistrictCharging, start: float) -> None:
        """Open the horizon at ``start`` on the supply meter's stored curve of the week
        before, or on the configured profile (``job.history_source`` says which)."""
        supply = self.station.supply_meter(name)
        history = None
        if supply is not None:
            history = curve_history(self.station.storage, supply, start, 7 * STEPS, STEP)
        if history is None:
            history, job.history_source = np.tile(self.base[name], 7), "configured profile"
        else:
            job.history_source = f"supply meter {supply} curve"
        job.begin(start, history)

    def tick(self, now: float) -> None:
        """At each interval's start, and after a re-plan (an EV plugged in through the API):
        a new horizon at noon, every job's limits dispatched, the changes sent, the states
        saved."""
        self.collection.tick(now)  # the terminals collect the piles' curve
        interval = int(now // STEP)
        new_interval, self.interval = interval != self.interval, interval
        for name, job in self.station.charging.items():
            if name not in self.base:
                continue
            observer = self.observers[name]
            if now >= job.start + job.steps * STEP:
                observer.step(now, flush=True)  # what is still missing stays missing
                self._new_horizon(name, job, now)
                observer.reset()
            observed = observer.step(now)  # the piles' draw and the base load as measured
            if not (new_interval or observed) and len(job.replans) == self.plans[name]:
                continue
            job.dispatch(now)
            self.plans[name] = len(job.replans)
            try:
                self.station.storage.save_charging(name, now, dump(job))
            except StorageError as exc:
                log.warning("charging: the state of %s was not saved: %s", name, exc)
        self.limits.flush()

    def _base_of(self, district: str) -> Callable[[float, float], float]:
        return lambda end, piles_kw: self._base_load(district, end, piles_kw)

    def _base_load(self, district: str, now: float, piles_kw: float) -> float:
        """The district's base load (kW) over the interval that ended at ``now``: its supply
        meter's energy there by its curve (else its mean power over the two latest
        forward-energy readings of the 45 minutes before ``now``), less ``piles_kw`` (the
        piles' draw by their readings); NaN without a supply meter, its readings or the
        piles' (the forecast then stands)."""
        supply = self.station.supply_meter(district)
        if supply is None or np.isnan(piles_kw):
            return float("nan")
        curve = {r.time: r.value for r in self.station.storage.readings(
            supply, SUPPLY_CURVE, start=int(now) - STEP, end=int(now) + 1)}  # fmt: skip
        if int(now) - STEP in curve and int(now) in curve:
            kw = (curve[int(now)] - curve[int(now) - STEP]) / (STEP / 3600)
            return max(kw - piles_kw, 0.0)
        start = int(now - 3 * STEP)
        found = sorted(
            self.station.storage.readings(supply, SUPPLY_ENERGY, start=start, end=int(now) + 1),
            key=lambda reading: reading.time,
        )
        if len(found) < 2 or found[-1].time <= found[-2].time:
            return float("nan")
        hours = (found[-1].time - found[-2].time) / 3600
        kw = (found[-1].value - found[-2].value) / hours
        return max(kw - piles_kw, 0.0)

    def _new_horizon(self, name: str, job: DistrictCharging, now: float) -> None:
        left = [(s.pile, s.energy_kwh - s.delivered_kwh) for s in job.sessions
                if s.depart >= job.steps and s.energy_kwh > s.delivered_kwh]  # fmt: skip
        start = _horizon(now)
        self._begin(name, job, start)
        for pile, kwh in left:
            job.plug_in(pile, kwh, start + CARRIED, now)
