"""Seeded districts (transformer areas) for the analytics: customers, the supply meter, losses,
and a few irregular meters whose truth the analyses never see.

Theory of operation. A district is one transformer area: ``meters`` customers on three
low-voltage feeders (``feeders_per_district``) and a district (total) meter at the
transformer measuring the whole area's supply. Everything is vectorised at the curve
resolution (15 minutes by default) and drawn from one ``numpy.random.Generator`` seeded with
``seed``, district by district, so the same arguments give the same arrays.

Loads. Each customer belongs to a class with a daily shape (power in kW by hour of day):

* RESIDENTIAL: a small morning bump and a broad evening peak around 19:30 over a base load.
* COMMERCIAL: a flat plateau from about 08:00 to 19:00 on working days, 40 % of it at
  weekends, refrigeration and standby at night.
* PV: a residential load minus a rooftop array (3-6 kWp, a clear-sky half-sine scaled by the
  day's clearness): the net curve goes negative (export) at noon on a sunny day.
* EV: a residential load plus a 7 kW home charger that starts between 22:00 and 01:00 on most
  nights and runs until the car's energy (lognormal, ~12 kWh) is delivered.

Customers are strongly correlated, as real ones are: one temperature anomaly per day (an AR(1)
process shared by every district) drives heating and cooling, one clearness per day and
district drives PV, and one "habit" factor per interval and district (an AR(1) lognormal)
moves everyone together. On top of that each customer has a size (lognormal), a time shift of
its habits (normal, sd 30 minutes), multiplicative noise per interval, and a switching
appliance (1-2 kW bursts at random).

The district meter. Its supply is the sum of the customers' true net energy, plus technical
losses: on each feeder an I^2 R loss proportional to the square of the feeder's net power
(scaled so the district's losses are ``loss`` of its supply on average, times a per-district
factor between 0.6 and 1.4), plus a constant no-load (iron) loss of the transformer, plus the
district meter's own noise (0.1 % of the value per interval, a class 0.5S meter).

Irregular meters. ``irregular`` customers per district (never PV: their net sign makes the
story murky) read wrong, each kind in turn: BYPASS hides 30-60 % of the load throughout;
METER_ERROR registers +2 % or -2 %; PARTIAL_THEFT hides 50-90 % of the load in the evening
hours (17:00-23:00) only; BROKEN reads zero from a day in the first half of the period. The
truth (:class:`DistrictTruth`) holds each meter's kind and its effective error over the whole
period (registered / true - 1) and is returned apart from the readings.

Voltages (``voltages=True``). Each customer meter's voltage per interval (volts, float32), as a
meter's voltage curve would report it: the transformer's secondary voltage (230 V moved by a
slow MV-side variation common to the district, an AR(1) of sd 1 %, and by the transformer's
own drop with the district's load), minus the drop along the customer's feeder, minus the drop
in its own service cable, plus the meter's error. The feeder drop is the one the I^2 R loss
model implies: a lumped load P on a feeder of resistance R loses P^2 R / V^2, a fraction
P R / V^2 of P, and that same fraction is the relative voltage drop at the load, so a feeder
carrying P kW drops ``scale / hours * P`` of the voltage at its end (about the district's loss
rate at an average load), times the customer's position along the feeder (uniform 0.2-1, kept
in the truth). The service drop is 0.1-0.3 % per kW of the customer's own load; the meter adds
a fixed offset (sd 0.2 %), noise (sd 0.1 %) and rounds to 0.1 V (the 698.45 voltage
resolution). Voltages come from a generator of their own, so the energy readings are the same
with and without them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "SUPPLY_NOISE",
    "CustomerClass",
    "DistrictTruth",
    "Irregularity",
    "SimulatedDistricts",
    "simulate_districts",
]

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.intp]


class CustomerClass(enum.IntEnum):
    """The load class a simulated customer is drawn from."""

    RESIDENTIAL = 0
    COMMERCIAL = 1
    PV = 2
    EV = 3


class Irregularity(enum.IntEnum):
    """What is wrong with a simulated customer's meter (NONE for an honest one)."""

    NONE = 0
    BYPASS = 1
    METER_ERROR = 2
    PARTIAL_THEFT = 3
    BROKEN = 4


#: The class mix of a district (fractions, in CustomerClass order).
DEFAULT_MIX = (0.55, 0.15, 0.15, 0.15)
_IRREGULAR_KINDS = (
    Irregularity.BYPASS,
    Irregularity.METER_ERROR,
    Irregularity.PARTIAL_THEFT,
    Irregularity.BROKEN,
)
_FEEDERS = 3
#: The district meter's own noise: sd of its relative error per interval (class 0.5S).
SUPPLY_NOISE = 0.001
_NO_LOAD = 0.004
_NOMINAL_VOLTS = 230.0


@dataclass(frozen=True)
class DistrictTruth:
    """What the simulation knows and the analyses must find: per meter its class, its
    irregularity and effective error (registered / true - 1 over the period), its true curve
    if kept, and per district the technical losses per interval."""

    classes: IntArray
    irregularity: IntArray
    error: FloatArray
    losses: FloatArray
    true_curves: FloatArray | None
    position: FloatArray | None = None


@dataclass(frozen=True)
class SimulatedDistricts:
    """The readings the station would hold: each customer meter's registered energy per
    interval (``curves``, kWh, float32), each district meter's (``supply``), the district of
    each meter, and the truth kept apart; ``feeder`` is each meter's low-voltage feeder in its
    district (0-2 with three feeders), the network record a utility keeps beside the district;
    ``voltage`` is each customer meter's voltage per interval (volts, float32) when simulated,
    else None."""

    curves: FloatArray
    supply: FloatArray
    district: IntArray
    steps_per_day: int
    first_weekday: int
    truth: DistrictTruth
    feeder: IntArray
    voltage: FloatArray | None = None

    @property
    def days(self) -> int:
        """Number of whole days simulated."""
        return int(self.curves.shape[1] // self.steps_per_day)

    def weekend(self) -> npt.NDArray[np.bool_]:
        """For each day, whether it is a Saturday or a Sunday."""
        return (np.arange(self.days) + self.first_weekday) % 7 >= 5


def _bump(hours: FloatArray, centre: float, width: float) -> FloatArray:
    distance = (hours - centre + 12.0) % 24.0 - 12.0
    return np.asarray(np.exp(-0.5 * (distance / width) ** 2))


def _plateau(hours: FloatArray, start: float, end: float) -> FloatArray:
    return np.asarray(
        1.0 / (1.0 + np.exp(-3.0 * (hours - start))) / (1.0 + np.exp(3.0 * (hours - end)))
    )


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float, sd: float) -> FloatArray:
    """AR(1) along the last axis with stationary standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - rho**2), shape)
    out = np.empty(shape)
    out[..., 0] = rng.normal(0.0, sd, shape[:-1])
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + shocks[..., t]
    return out


class _Weather:
    """Shared by every district: one temperature anomaly a day."""

    def __init__(self, rng: np.random.Generator, days: int) -> None:
        self.temperature = _ar1(rng, (days,), 0.8, 1.0)


def _district_loads(
    rng: np.random.Generator,
    classes: IntArray,
    weather: _Weather,
    days: int,
    steps_per_day: int,
    weekend: npt.NDArray[np.bool_],
) -> FloatArray:
    """(meters, days, steps) true net power in kW."""
    meters = classes.size
    hours0 = (np.arange(steps_per_day) + 0.5) * 24.0 / steps_per_day
    shift = rng.normal(0.0, 0.5, (meters, 1, 1))
    hours = (hours0[None, None, :] - shift) % 24.0
    size = rng.lognormal(0.0, 0.3, (meters, 1, 1))
    heat = 1.0 + 0.15 * weather.temperature[None, :, None]
    weekend_b = weekend[None, :, None]
    evening = 0.25 + 0.35 * _bump(hours, 7.5, 1.0) + 1.1 * _bump(hours, 19.5, 1.8) * heat
    evening = evening + 0.15 * _plateau(hours, 9.0, 16.0) * weekend_b
    shop = 0.35 + 2.4 * _plateau(hours, 8.0, 19.0) * np.where(weekend_b, 0.4, 1.0) * heat
    power = np.where((classes == CustomerClass.COMMERCIAL)[:, None, None], shop, evening)
    clearness = rng.uniform(0.3, 1.0, (1, days, 1))
    sun = np.clip(np.sin(np.pi * (hours0[None, None, :] - 6.0) / 12.0), 0.0, None) ** 1.2
    kwp = rng.uniform(3.0, 6.0, (meters, 1, 1))
    pv = (classes == CustomerClass.PV)[:, None, None]
    power = power * size
    power = power - np.where(pv, kwp * sun * clearness * 0.8, 0.0)
    power = power + _charging(rng, classes, days, steps_per_day)
    habit = np.exp(_ar1(rng, (days * steps_per_day,), 0.9, 0.08)).reshape(1, days, steps_per_day)
    spread = np.where(classes == CustomerClass.COMMERCIAL, 0.15, 0.5)[:, None, None]
    noise = np.exp(rng.normal(0.0, 1.0, power.shape) * spread - 0.5 * spread**2)
    rate = np.where(classes == CustomerClass.COMMERCIAL, 2.0, 8.0)[:, None, None] / steps_per_day
    bursts = (rng.random(power.shape) < rate) * rng.uniform(1.0, 2.5, power.shape)
    load = np.where(power > 0, power * habit * noise, power) + bursts
    return np.asarray(load)


def _charging(
    rng: np.random.Generator, classes: IntArray, days: int, steps_per_day: int
) -> FloatArray:
    """(meters, days, steps) EV charging power: 7 kW from a night start until energy is in."""
    out = np.zeros((classes.size, days, steps_per_day))
    cars = np.flatnonzero(classes == CustomerClass.EV)
    hours = 24.0 / steps_per_day
    for car in cars:
        start = rng.uniform(22.0, 25.0, days)
        energy = rng.lognormal(np.log(12.0), 0.3, days) * (rng.random(days) < 0.85)
        for day in range(days):
            first = int(start[day] / hours) + day * steps_per_day
            left = energy[day]
            step = first
            while left > 0 and step < days * steps_per_day:
                take = min(7.0 * hours, left)
                out[car].flat[step] = take / hours
                left -= take
                step += 1
    return out


def _registered(
    rng: np.random.Generator,
    kind: Irregularity,
    true: FloatArray,
    steps_per_day: int,
) -> FloatArray:
    """One meter's registered energy (days, steps) for its irregularity."""
    days = true.shape[0]
    hours = (np.arange(steps_per_day) + 0.5) * 24.0 / steps_per_day
    if kind is Irregularity.BYPASS:
        return true * (1.0 - rng.uniform(0.3, 0.6))
    if kind is Irregularity.METER_ERROR:
        return true * (1.0 + float(rng.choice((-0.02, 0.02))))
    if kind is Irregularity.PARTIAL_THEFT:
        evening = (hours >= 17.0) & (hours < 23.0)
        return np.where(evening[None, :], true * (1.0 - rng.uniform(0.5, 0.9)), true)
    if kind is Irregularity.BROKEN:
        broken = true.copy()
        broken[int(rng.integers(0, max(1, days // 2))) :] = 0.0
        return broken
    return true


def _voltages(
    rng: np.random.Generator,
    power: FloatArray,
    feeder: IntArray,
    flows: FloatArray,
    drop_per_kw: float,
) -> tuple[FloatArray, FloatArray]:
    """(meters, steps) voltages in volts and each meter's position along its feeder, from the
    (meters, days, steps) loads, the (feeders, days, steps) feeder flows in kW and the relative
    drop per kW at a feeder's end."""
    meters = int(power.shape[0])
    load = power.reshape(meters, -1)
    steps = load.shape[1]
    total = load.sum(axis=0)
    secondary = 1.0 + _ar1(rng, (steps,), 0.98, 0.01) + rng.normal(0.0, 0.001, steps)
    secondary -= 0.005 * total / max(float(np.abs(total).mean()), 1e-9)
    position = np.asarray(rng.uniform(0.2, 1.0, meters), dtype=np.float64)
    feeder_drop = drop_per_kw * flows.reshape(flows.shape[0], steps)[feeder] * position[:, None]
    service = load * rng.uniform(0.001, 0.003, (meters, 1))
    relative = secondary[None, :] - feeder_drop - service
    relative += rng.normal(0.0, 0.002, (meters, 1)) + rng.normal(0.0, 0.001, relative.shape)
    volts = np.round(_NOMINAL_VOLTS * relative, 1)
    return volts.astype(np.float32), position


def simulate_districts(
    districts: int,
    meters: int,
    days: int,
    *,
    seed: int,
    steps_per_day: int = 96,
    irregular: int = 1,
    loss: float = 0.03,
    mix: tuple[float, ...] = DEFAULT_MIX,
    first_weekday: int = 0,
    keep_true: bool = False,
    voltages: bool = False,
    feeders_per_district: int = _FEEDERS,
) -> SimulatedDistricts:
    """Simulate ``districts`` transformer areas of ``meters`` customers for ``days`` days.

    Returns the registered curves (kWh per interval), the district meters' supply, each meter's
    district, and the truth apart. ``keep_true`` keeps the true curves in the truth too (twice
    the memory). ``voltages`` simulates each customer meter's voltage per interval too
    (float32: 4 bytes per meter and interval). ``feeders_per_district`` low-voltage feeders
    (3 by default) share each district's customers at random.
    """
    rng = np.random.default_rng(seed)
    volt_rng = np.random.default_rng([seed, 1])
    steps = days * steps_per_day
    total = districts * meters
    curves = np.empty((total, steps), dtype=np.float32)
    supply = np.empty((districts, steps))
    losses = np.empty((districts, steps))
    classes = np.empty(total, dtype=np.intp)
    feeders = np.empty(total, dtype=np.intp)
    irregularity = np.zeros(total, dtype=np.intp)
    error = np.zeros(total)
    true_curves = np.empty((total, steps), dtype=np.float32) if keep_true else None
    voltage = np.empty((total, steps), dtype=np.float32) if voltages else None
    position = np.empty(total) if voltages else None
    weekend = (np.arange(days) + first_weekday) % 7 >= 5
    weather = _Weather(rng, days)
    hours = 24.0 / steps_per_day
    kinds = iter(_IRREGULAR_KINDS * (districts * irregular))
    for d in range(districts):
        rows = slice(d * meters, (d + 1) * meters)
        cls = rng.choice(len(mix), size=meters, p=np.asarray(mix) / sum(mix)).astype(np.intp)
        power = _district_loads(rng, cls, weather, days, steps_per_day, weekend)
        true = power * hours  # kWh per interval
        feeder = rng.integers(0, feeders_per_district, meters)
        flows = np.stack([power[feeder == f].sum(axis=0) for f in range(feeders_per_district)])
        resistive = (flows**2).sum(axis=0)
        net = true.sum(axis=0)
        scale = loss * rng.uniform(0.6, 1.4) * max(net.mean(), 1e-9) / max(resistive.mean(), 1e-9)
        loss_energy = scale * resistive + _NO_LOAD * net.mean()
        ideal = net + loss_energy
        supply[d] = (ideal * (1.0 + rng.normal(0.0, SUPPLY_NOISE, ideal.shape))).ravel()
        losses[d] = loss_energy.ravel()
        registered = true.copy()
        candidates = np.flatnonzero(cls != CustomerClass.PV)
        chosen = rng.choice(candidates, size=min(irregular, candidates.size), replace=False)
        for meter in chosen:
            kind = next(kinds)
            registered[meter] = _registered(rng, kind, true[meter], steps_per_day)
            irregularity[d * meters + meter] = kind
            error[d * meters + meter] = registered[meter].sum() / true[meter].sum() - 1.0
        curves[rows] = registered.reshape(meters, steps)
        if true_curves is not None:
            true_curves[rows] = true.reshape(meters, steps)
        classes[rows] = cls
        feeders[rows] = feeder
        if voltage is not None and position is not None:
            voltage[rows], position[rows] = _voltages(volt_rng, power, feeder, flows, scale / hours)
    district = np.repeat(np.arange(districts, dtype=np.intp), meters)
    truth = DistrictTruth(classes, irregularity, error, losses, true_curves, position)
    return SimulatedDistricts(
        curves, supply, district, steps_per_day, first_weekday, truth, feeders, voltage
    )
