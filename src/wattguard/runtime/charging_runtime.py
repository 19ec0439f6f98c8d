"""Orderly charging run in a deployment: one :class:`~wattguard.station.charging.
DistrictCharging` per district (terminal), its limits delivered to the meters' piles as
pile-limit commands (:class:`~wattguard.station.pile_limits.PileLimits`), EV visits simulated.

Theory of operation. :func:`attach_charging` picks ``piles`` customer meters of every
district as home charging piles, forecasts each district's base load from a week of history
(the same seeded load model the deployment's meters follow, standing for the station's
archive of the days before the run), sets the transformer's capacity between the base peak
and the base peak with every pile at full power (so uncontrolled charging overloads it), and
registers the jobs in ``station.charging`` (the API's ``/api/charging``). :meth:`DemoCharging.
tick` runs on the deployment's tick: each pile with an EV draws what its meter's expansion
module allows (the EV asks for the pile's maximum; the pile's setpoint is bounded by the limit
the last pile-limit command set), reported to its meter (``Meter.pile_drawn``), whose
management module keeps the pile's energy (FF13) and freezes it in the meter's 15-minute
curve (the piles are fitted at attach: :func:`~wattguard.meter.management.pile_energy.
fit_pile`); each district's terminal collects that curve from its pile meters (a collection
task covering them) and the station stores it like any reading. At each interval's end the
base load (what the district's meters registered) is noted; the job observes the interval
once the piles' readings of it are stored (:class:`~wattguard.station.pile_readings.
ReadingsObserver`, or once its grace passed, with what is missing counted missing): the draw
it sees and the demand responses it measures come from the meters' readings, never from the
simulation. EVs plug in and leave, the job dispatches and the changed limits go out. The
meters freeze a boundary before the tick reports the pile's last minute, so a reading holds
the draw up to a minute before the boundary (one tick).
:meth:`DemoCharging.summary` is the run's account: peak against capacity, energy delivered
against asked. The horizon is a day; at its end a new one begins, the EVs still plugged in
taking what they still need into it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wattguard.meter.device import Meter
from wattguard.meter.management.pile_energy import fit_pile
from wattguard.runtime.deployment import Deployment
from wattguard.runtime.pile_collection import pile_curve
from wattguard.simulation.ev_sessions import EvVisit, evening_visits
from wattguard.simulation.profile import LoadModel
from wattguard.station import Station
from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.station.charging_state import dump
from wattguard.station.commands import Role, User
from wattguard.station.pile_limits import PileLimits
from wattguard.station.pile_readings import ReadingsObserver
from wattguard.station.storage import StorageError

__all__ = [
    "MAX_DISTRICTS",
    "OWNER",
    "ChargingSummary",
    "DemoCharging",
    "attach_charging",
    "charge_in",
]

log = logging.getLogger(__name__)

STEP = 900
STEPS = 96
DAY = 86_400.0
#: The system user the job's pile-limit commands are issued (and audited) as.
OWNER = User("charging-job", Role.OPERATOR)
#: Time-of-use price (yuan/kWh): off-peak 22:00-08:00 UTC, peak otherwise.
OFF_PEAK, PEAK = 0.35, 0.9


@dataclass(frozen=True, slots=True)
class ChargingSummary:
    """Orderly charging over a run: the highest interval's load (base and EVs, kW) against
    the transformer's capacity (the district nearest its capacity); the energy the EVs that
    left had asked for and were given (kWh), and the EVs still charging."""

    districts: int
    piles: int
    peak_kw: float
    capacity_kw: float
    left: int
    asked_kwh: float
    delivered_kwh: float
    charging: int
    commands: int

    def line(self) -> str:
        """The summary on one line, for the end of a run."""
        share = 100.0 * self.delivered_kwh / self.asked_kwh if self.asked_kwh else 100.0
        return (
            f"charging: {self.piles} piles in {self.districts} districts, peak "
            f"{self.peak_kw:,.1f} kW against {self.capacity_kw:,.1f} kW capacity; "
            f"{self.left} EVs left with {self.delivered_kwh:,.1f} of {self.asked_kwh:,.1f} kWh "
            f"asked ({share:.0f} %), {self.charging} still plugged in; "
            f"{self.commands} pile-limit commands"
        )


@dataclass
class _Pile:
    meter: Meter
    max_kw: float
    visit: EvVisit | None = None
    plugged: bool = False
    drawn_kwh: float = 0.0  # by the current visit (the simulation's truth: the EV's account)


@dataclass
class _District:
    job: DistrictCharging
    piles: dict[str, _Pile]
    customers: list[Meter]
    history: np.ndarray
    rng: np.random.Generator
    visits: list[EvVisit] = field(default_factory=list)
    t: int = 0
    energy: float = 0.0  # the customers' registers (Ws) at the last interval's end
    day: float = -math.inf  # the last day whose visits were drawn
    dispatched: bool = False  # whether the piles had their first limits
    peak_ratio: float = 0.0
    peak_kw: float = 0.0
    left: int = 0  # EVs that left, with what they asked for and were given (kWh)
    asked_kwh: float = 0.0
    delivered_kwh: float = 0.0
    #: The base load (kW) of each closed interval, until the job observes it.
    bases: dict[int, float] = field(default_factory=dict)
    observer: ReadingsObserver | None = None


class DemoCharging:
    """The deployment's orderly-charging jobs and their simulated EVs (see the module)."""

    def __init__(self, station: Station, districts: dict[str, _District], start: float) -> None:
        self.station = station
        self.districts = districts
        self.limits = PileLimits(station.issue, station.commands.get, OWNER)
        self.last = start
        self.commands = 0
        for district in districts.values():
            district.energy = _registered(district.customers)
            district.observer = ReadingsObserver(
                station.storage, district.job, _base_of(district),
                on_observed=_peak_of(district),
            )  # fmt: skip

    def tick(self, now: float) -> None:
        """Run the piles for the time since the last tick, then the jobs' interval work."""
        seconds = now - self.last
        if seconds <= 0:
            return
        self.last = now
        for name, district in self.districts.items():
            _draw(district, now, seconds)
            if _intervals(district, now):
                self._save(name, district, now)
        self.commands += len(self.limits.flush())

    def _save(self, name: str, district: _District, now: float) -> None:
        """Keep the job's state in the station's storage (a restart resumes from it)."""
        try:
            self.station.storage.save_charging(name, now, dump(district.job))
        except StorageError as exc:  # kept again at the next interval
            log.warning("charging: the state of %s was not saved: %s", name, exc)

    def summary(self) -> ChargingSummary:
        """Peak against capacity (the district nearest its capacity) and energy so far."""
        worst = max(self.districts.values(), key=lambda d: d.peak_ratio, default=None)
        return ChargingSummary(
            districts=len(self.districts),
            piles=sum(len(d.piles) for d in self.districts.values()),
            peak_kw=worst.peak_kw if worst else 0.0,
            capacity_kw=worst.job.capacity_kw if worst else 0.0,
            left=sum(d.left for d in self.districts.values()),
            asked_kwh=sum(d.asked_kwh for d in self.districts.values()),
            delivered_kwh=sum(d.delivered_kwh for d in self.districts.values()),
            charging=sum(p.plugged for d in self.districts.values() for p in d.piles.values()),
            commands=self.commands,
        )

    def view(self) -> dict[str, Any]:
        """Where every pile's limit stands (the pile-limit commands), for the API."""
        return self.limits.view()


def attach_charging(
    station: Station,
    nets: Iterable[Any],
    start: float,
    seed: int,
    *,
    piles: int = 6,
    pile_kw: float = 7.0,
) -> DemoCharging:
    """Orderly charging on every district of ``nets`` (the deployment's neighbourhoods,
    numbered from 1 as the deployment seeds their loads with ``seed * 1000 + k``): jobs
    registered in ``station.charging``, to be ticked by the deployment."""
    begin = start - start % STEP
    districts: dict[str, _District] = {}
    for k, net in enumerate(nets, 1):
        customers: list[Meter] = list(net.fleet.meters)
        chosen = customers[: min(piles, len(customers))]
        history = _history(LoadModel.mixed(len(customers), seed=seed * 1000 + k), begin)
        base_peak = float(history.max())
        capacity = round(base_peak + 0.3 * len(chosen) * pile_kw, 1)
        hours = ((begin + STEP * np.arange(STEPS)) % DAY) / 3600.0
        price = np.where((hours >= 22) | (hours < 8), OFF_PEAK, PEAK)
        name = net.terminal.address.hex()
        for meter in chosen:  # a pile is fitted: its energy joins the meter's curve
            fit_pile(meter.management.freezer)
        net.terminal.add_task(pile_curve(frozenset(m.address for m in chosen)))
        specs = [PileSpec(m.address.hex(), pile_kw, comfort_per_kw=1.0 + i % 3)
                 for i, m in enumerate(chosen)]  # fmt: skip
        job = DistrictCharging(name, capacity, STEP, price, specs,
                               {s.name: _later for s in specs})  # fmt: skip
        job.begin(begin, history)
        district = _District(
            job, {m.address.hex(): _Pile(m, pile_kw) for m in chosen}, customers, history,
            np.random.default_rng(seed * 1000 + k + 7),
        )  # fmt: skip
        districts[name] = district
    charging = DemoCharging(station, districts, start)
    for district in districts.values():
        district.job.deliver = dict.fromkeys(district.piles, charging.limits)
        district.job.delivery_status = charging.limits.view
    station.charging.update({name: d.job for name, d in districts.items()})
    return charging


def _later(pile: str, kw: float) -> None:
    """A placeholder delivery until the :class:`PileLimits` is made (never called)."""


def _history(model: LoadModel, begin: float) -> np.ndarray:
    """A week of the district's base load before ``begin`` (kW per interval)."""
    first = begin - 7 * DAY
    first -= first % 60
    power, _ = model.power(first, 7 * 1440)
    per_minute = np.maximum(power, 0.0).sum(axis=1) / 1000.0
    return np.asarray(per_minute.reshape(-1, STEP // 60).mean(axis=1), dtype=np.float64)


def _registered(meters: Iterable[Meter]) -> float:
    return float(sum(m.management.registers.forward_active[0] for m in meters))


def _draw(district: _District, now: float, seconds: float) -> None:
    """Each pile with an EV draws what its meter allows, for ``seconds`` up to ``now``."""
    for pile in district.piles.values():
        visit = pile.visit
        wanted = 0.0
        if pile.plugged and visit is not None:
            left = max(0.0, visit.energy_kwh - pile.drawn_kwh)
            wanted = min(pile.max_kw * 1000.0, left * 3.6e6 / seconds)
        pile.meter.expansion.pile.requested = wanted
        watts = pile.meter.expansion.pile.setpoint if wanted > 0 else 0.0
        pile.meter.pile_drawn(watts, now)
        pile.drawn_kwh += watts * seconds / 3.6e6


def _intervals(district: _District, now: float) -> bool:
    """Close the intervals that ended, plug EVs in and out, dispatch the limits; whether
    an interval closed."""
    job = district.job
    index = int((now - job.start) // STEP)
    closed = index > district.t
    changed = closed or not district.dispatched
    district.dispatched = True
    while district.t < min(index, STEPS):
        _note_base(district)
        district.t += 1
    observer = district.observer
    if observer is not None:
        changed |= observer.step(now) > 0
    if index >= STEPS:
        if observer is not None:
            observer.step(now, flush=True)  # what is still missing stays missing
            observer.reset()
        _new_horizon(district, job.start + STEPS * STEP)
        changed = True
    day = now - now % DAY
    if day > district.day:
        district.day = day
        new = evening_visits(list(district.piles), day, next(iter(district.piles.values())).max_kw,
                             district.rng) if district.piles else []  # fmt: skip
        district.visits.extend(new)
    changed |= _plugs(district, now)
    if changed:
        job.dispatch(now)
    return closed


def _note_base(district: _District) -> None:
    """The interval ``district.t`` ended: its base load, what the customers registered."""
    energy = _registered(district.customers)
    district.bases[district.t] = (energy - district.energy) / 3.6e6 / (STEP / 3600.0)
    district.energy = energy


def _base_of(district: _District) -> Callable[[float, float], float]:
    def base(end: float, piles_kw: float) -> float:
        return district.bases.pop(district.job.interval(end - STEP / 2), math.nan)

    return base


def _peak_of(district: _District) -> Callable[[float, float, Mapping[str, float]], None]:
    def peak(end: float, base_kw: float, pile_kw: Mapping[str, float]) -> None:
        load = base_kw + sum(kw for kw in pile_kw.values() if math.isfinite(kw))
        ratio = load / district.job.capacity_kw
        if ratio > district.peak_ratio:
            district.peak_ratio, district.peak_kw = ratio, load

    return peak


def _plugs(district: _District, now: float) -> bool:
    """EVs whose time came plug in; those whose departure passed leave. Whether any did."""
    changed = False
    for name, pile in district.piles.items():
        if pile.plugged and pile.visit is not None and pile.visit.depart <= now:
            district.job.unplug(name, now)
            district.left += 1
            district.asked_kwh += pile.visit.energy_kwh
            district.delivered_kwh += pile.drawn_kwh
            pile.plugged, pile.visit, changed = False, None, True
    waiting = []
    for visit in district.visits:
        pile = district.piles[visit.pile]
        if visit.arrive > now or pile.plugged:
            waiting.append(visit)
        elif visit.depart > now:
            district.job.plug_in(visit.pile, visit.energy_kwh, visit.depart, now)
            pile.visit, pile.plugged, pile.drawn_kwh, changed = visit, True, 0.0, True
    district.visits = waiting
    return changed


def _new_horizon(district: _District, start: float) -> None:
    """The day is over: forecast the next from what was measured, keep the EVs plugged in."""
    job = district.job
    measured = np.where(np.isnan(job.actual), job.forecast, job.actual)
    district.history = np.concatenate([district.history, measured])[-28 * STEPS :]
    job.begin(start, district.history)
    district.t = 0
    district.bases.clear()
    for name, pile in district.piles.items():
        if pile.plugged and pile.visit is not None:
            left = max(0.0, pile.visit.energy_kwh - pile.drawn_kwh)
            job.plug_in(name, left, pile.visit.depart, start)


#: Districts a deployment runs orderly charging on, at most (each costs a forecast at start).
MAX_DISTRICTS = 20


def charge_in(deployment: Deployment) -> DemoCharging | None:
    """Orderly charging on the first :data:`MAX_DISTRICTS` districts of a deployment built
    with districts (None without), ticked by it: the demo's hook."""
    if not deployment.config.districts:
        return None
    charging = attach_charging(
        deployment.station, deployment.nets[:MAX_DISTRICTS], deployment.clock.time(),
        deployment.config.simulation_seed,
    )  # fmt: skip
    deployment.on_tick.append(charging.tick)
    print(
        f"charging: orderly EV charging on {len(charging.districts)} districts "
        f"({sum(len(d.piles) for d in charging.districts.values())} piles, limits sent as "
        "protected pile-limit commands); plan against capacity in the dashboard",
        flush=True,
    )
    return charging
