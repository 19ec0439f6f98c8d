"""Load models for fleets in profile mode: every meter's power, minute by minute, vectorised.

Theory of operation. A :class:`LoadModel` holds one class per meter and a few parameters per
meter drawn once from the seed. The power of any minute is a pure function of the seed and the
time: the model works in blocks of a quarter hour (the resolution of the standard load
profiles), each block's random draws come from a generator seeded with (seed, block), and each
day's draws (weather, charging sessions) from one seeded with (seed, day). Asking for the same
minute twice, in any order or block size, gives the same powers, so a few assembled meters and
a columnar fleet can share one load. The correlated noise and the appliances' on/off chains
start each quarter hour afresh from their stationary distributions: the statistics run on
across the edge, the individual noise path does not.

The classes:

* HOUSEHOLD: the BDEW H0 profile (double peak, weekday/Saturday/Sunday, three seasons and the
  dynamisation polynomial, see :mod:`wattguard.simulation.bdew`) scaled to the house's annual
  consumption and shifted by a per-house offset of a few minutes. 60 % of the expected power is
  a smooth part with correlated lognormal noise (mean 1); 40 % comes from one switching
  appliance of 1-2.5 kW whose on/off state is a two-state Markov chain (mean on-time
  12 minutes) with the on-probability that makes its expected power follow the profile (up
  to a 50 % duty).
* SHOP: the BDEW G4 profile (shop, hairdresser: closed on Sunday and at night, when only
  refrigeration and standby remain) with per-shop opening-time shifts and mild noise.
* EV_CHARGER: a dedicated 7 kW charging point. Most days a car arrives in the evening (workdays
  about 18:30, weekends spread over the day), needs a lognormal amount of energy and leaves next
  morning; the charger draws 7 kW until the energy is delivered or the car leaves, 3 W standby
  otherwise. Partial minutes at the start and end of a session carry the charger's share.
* PV: a household with rooftop PV at unity power factor: the household load minus
  kWp x performance ratio x Haurwitz clear-sky irradiance (:mod:`wattguard.simulation.solar`) x the
  clear-sky index of the region's weather: negative (export) at noon on a sunny day.

Reactive power is drawn per meter: households and shops inductive with a power factor of about
0.9-0.99 plus a small capacitive standby offset (so quiet houses fall into quadrant IV), the
charger near unity, the PV inverter at unity (an exporting house sits in quadrant II).

The parameters of the distributions (annual consumptions, charger habits, weather mix) are our
choices for a realistic mix, not published statistics; the shapes come from the cited sources.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError
from wattguard.simulation import bdew
from wattguard.simulation.fleet import LoadSource
from wattguard.simulation.solar import Site, clear_sky_ghi

__all__ = ["DEFAULT_MIX", "LoadClass", "LoadModel"]

F64 = NDArray[np.float64]

BLOCK_MINUTES = 15
_BLOCK = BLOCK_MINUTES * 60.0
_DAY = 86_400.0
_CHARGER_W = 7000.0
_STANDBY_W = 3.0
_SMOOTH_SHARE = 0.6
_APPLIANCE_ON_MINUTES = 12.0


class LoadClass(enum.IntEnum):
    """What kind of customer a meter serves, which decides its load model."""

    HOUSEHOLD = 0
    SHOP = 1
    EV_CHARGER = 2
    PV = 3


#: A plausible low-voltage feeder: mostly households, some with PV, shops and charging points.
DEFAULT_MIX: Mapping[LoadClass, float] = {
    LoadClass.HOUSEHOLD: 0.70,
    LoadClass.PV: 0.12,
    LoadClass.SHOP: 0.10,
    LoadClass.EV_CHARGER: 0.08,
}

# Stream tags for the seed sequences: one per kind of draw.
_PARAMETERS, _BLOCKS, _DAYS = 0, 1, 2


class LoadModel:
    """Seeded, reproducible active and reactive power of ``len(classes)`` meters."""

    def __init__(
        self,
        classes: Sequence[LoadClass] | NDArray[np.integer],
        *,
        seed: int,
        site: Site | None = None,
        sky: float | None = None,
        holidays: frozenset[dt.date] = frozenset(),
    ) -> None:
        """``sky`` fixes the clear-sky index (1.0: cloudless every day); by default each day's
        weather is drawn. ``holidays`` are days that follow the Sunday profile."""
        codes = np.asarray(classes, dtype=np.int64)
        if codes.ndim != 1 or codes.size == 0:
            raise ConfigError("a load model needs a class for each of at least one meter")
        if not np.isin(codes, [c.value for c in LoadClass]).all():
            raise ConfigError("unknown load class")
        if sky is not None and not 0.0 <= sky <= 1.2:
            raise ConfigError("the clear-sky index lies in 0..1.2")
        self.n = int(codes.size)
        self.classes = codes.astype(np.int8)
        self.seed = seed
        self.site = site or Site()
        self.sky = sky
        self.holidays = holidays
        self._homes = np.flatnonzero(np.isin(codes, (LoadClass.HOUSEHOLD, LoadClass.PV)))
        self._pv = np.flatnonzero(codes[self._homes] == LoadClass.PV)  # within the homes
        self._shops = np.flatnonzero(codes == LoadClass.SHOP)
        self._chargers = np.flatnonzero(codes == LoadClass.EV_CHARGER)
        self._draw_parameters(np.random.default_rng([seed, _PARAMETERS]))
        self._days: dict[int, tuple[F64, F64, F64, float, float]] = {}
        self._cached: tuple[int, F64, F64] | None = None

    @classmethod
    def mixed(
        cls,
        n: int,
        *,
        seed: int,
        mix: Mapping[LoadClass, float] = DEFAULT_MIX,
        site: Site | None = None,
        sky: float | None = None,
        holidays: frozenset[dt.date] = frozenset(),
    ) -> LoadModel:
        """``n`` meters whose classes are drawn from ``mix`` (shares, normalised)."""
        if n < 1 or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
            raise ConfigError("a mix names classes with non-negative shares for n >= 1 meters")
        names = list(mix)
        shares = np.array([mix[c] for c in names], dtype=np.float64)
        rng = np.random.default_rng([seed, _PARAMETERS, 1])
        codes = np.array(names, dtype=np.int64)[rng.choice(len(names), n, p=shares / shares.sum())]
        return cls(codes, seed=seed, site=site, sky=sky, holidays=holidays)

    # -- the powers ------------------------------------------------------------------------

    def power(self, start: float, minutes: int) -> tuple[F64, F64]:
        """Active (W) and reactive (var) power of every meter for ``minutes`` minutes from
        ``start`` (POSIX seconds on a whole minute): two arrays of shape (minutes, n)."""
        if start % 60.0 or minutes < 1:
            raise ConfigError("profile powers start on a whole minute and cover one or more")
        first = int(start // 60.0)
        p = np.empty((minutes, self.n))
        q = np.empty((minutes, self.n))
        row = 0
        while row < minutes:
            block, offset = divmod(first + row, BLOCK_MINUTES)
            take = min(BLOCK_MINUTES - offset, minutes - row)
            bp, bq = self._block(block)
            p[row : row + take] = bp[offset : offset + take]
            q[row : row + take] = bq[offset : offset + take]
            row += take
        return p, q

    def release(self) -> None:
        """Drop the quarter hour kept for the next call (two arrays of 15 x n floats): a
        caller done with a block (the lazy fleet once a slot is closed) gives it back."""
        self._cached = None

    def load(self, now: float, seconds: float) -> tuple[F64, F64]:
        """The mean powers over the window ``(now - seconds, now]``: a
        :data:`~wattguard.simulation.fleet.LoadSource` for all meters."""
        return self.source()(now, seconds)

    def source(self, meters: Sequence[int] | None = None) -> LoadSource:
        """A load source for :class:`~wattguard.simulation.fleet.MeterFleet` giving the powers of
        ``meters`` (indices into this model; all by default), time-weighted over each step."""
        chosen = np.arange(self.n) if meters is None else np.asarray(meters, dtype=np.int64)
        if chosen.ndim != 1 or (chosen.size and not 0 <= chosen.min() <= chosen.max() < self.n):
            raise ConfigError(f"meter indices lie in 0..{self.n - 1}")

        def load(now: float, seconds: float) -> tuple[F64, F64]:
            if seconds <= 0:
                raise ConfigError("a load window lasts a positive time")
            begin = now - seconds
            first = math.floor(begin / 60.0)
            count = math.ceil(now / 60.0) - first
            p, q = self.power(first * 60.0, count)
            edges = np.clip(first * 60.0 + 60.0 * np.arange(count + 1), begin, now)
            weights = np.diff(edges) / seconds
            return weights @ p[:, chosen], weights @ q[:, chosen]

        return load

    # -- parameters drawn once -------------------------------------------------------------

    def _draw_parameters(self, rng: np.random.Generator) -> None:
        homes, shops, chargers = len(self._homes), len(self._shops), len(self._chargers)
        self._home_kwh = 2500.0 * rng.lognormal(0.0, 0.45, homes)
        self._home_shift = np.clip(np.rint(rng.normal(0.0, 20.0, homes)), -60, 60).astype(np.int64)
        self._home_tan = rng.uniform(0.15, 0.45, homes)
        self._home_qoff = rng.uniform(-30.0, 5.0, homes)
        self._appliance_w = rng.uniform(1000.0, 2500.0, homes)
        self._pv_w_per_ghi = rng.uniform(3.0, 8.0, len(self._pv)) * rng.uniform(
            0.7, 0.85, len(self._pv)
        )  # kWp x performance ratio: W per W/m^2
        self._shop_kwh = 12_000.0 * rng.lognormal(0.0, 0.6, shops)
        self._shop_shift = np.clip(np.rint(rng.normal(0.0, 30.0, shops)), -90, 90).astype(np.int64)
        self._shop_tan = rng.uniform(0.3, 0.6, shops)
        self._ev_daily = rng.uniform(0.4, 0.9, chargers)
        self._ev_arrive = rng.normal(18.5, 1.0, chargers)  # hour of day
        self._ev_leave = rng.normal(7.5, 0.75, chargers)  # hour of the next day
        self._ev_kwh = rng.uniform(6.0, 16.0, chargers)
        self._ev_tan = rng.uniform(-0.05, 0.05, chargers)

    # -- one quarter hour ------------------------------------------------------------------

    def _block(self, block: int) -> tuple[F64, F64]:
        if self._cached is not None and self._cached[0] == block:
            return self._cached[1], self._cached[2]
        start = block * _BLOCK
        day = int(start // _DAY)
        minute = int(start % _DAY) // 60
        rng = np.random.default_rng([self.seed, _BLOCKS, block])
        p = np.empty((BLOCK_MINUTES, self.n))
        q = np.empty((BLOCK_MINUTES, self.n))
        if self._homes.size:
            self._homes_block(p, q, rng, start, day, minute)
        if self._shops.size:
            curve = self._days_curves(day)[1]
            base = self._shifted(curve, minute, self._shop_shift) * (self._shop_kwh / 1000.0)
            shop = base * _lognormal_noise(rng, base.shape, sigma=0.1, rho=0.9)
            p[:, self._shops] = shop
            q[:, self._shops] = shop * self._shop_tan
        if self._chargers.size:
            charging = self._charging(start, day)
            ev = np.where(charging > 0.0, _CHARGER_W * charging, _STANDBY_W)
            p[:, self._chargers] = ev
            q[:, self._chargers] = ev * self._ev_tan
        self._cached = (block, p, q)
        return p, q

    def _homes_block(
        self, p: F64, q: F64, rng: np.random.Generator, start: float, day: int, minute: int
    ) -> None:
        curve = self._days_curves(day)[0]
        base = self._shifted(curve, minute, self._home_shift) * (self._home_kwh / 1000.0)
        smooth = _SMOOTH_SHARE * base * _lognormal_noise(rng, base.shape, sigma=0.25, rho=0.9)
        share = np.minimum((1.0 - _SMOOTH_SHARE) * base / self._appliance_w, 0.5)
        on = _on_off_chain(rng, share, 1.0 / _APPLIANCE_ON_MINUTES)
        load = smooth + on * self._appliance_w
        home_q = load * self._home_tan + self._home_qoff
        if self._pv.size:
            clock = start + 30.0 + 60.0 * np.arange(BLOCK_MINUTES, dtype=np.float64)  # mid-minute
            sun = clear_sky_ghi(self.site, clock) * self._sky_index(day, rng)
            load[:, self._pv] -= sun[:, None] * self._pv_w_per_ghi
        p[:, self._homes] = load
        q[:, self._homes] = home_q

    def _shifted(self, curves: F64, minute: int, shift: NDArray[np.int64]) -> F64:
        """Rows: the block's minutes; columns: the meters' profile values with their shifts,
        from the curves of yesterday, today and tomorrow laid end to end (minute values)."""
        index = (1440 + minute + np.arange(BLOCK_MINUTES))[:, None] + shift[None, :]
        values: F64 = curves[index]
        return values

    def _sky_index(self, day: int, rng: np.random.Generator) -> F64:
        if self.sky is not None:
            return np.full(BLOCK_MINUTES, self.sky)
        mean, spread = self._day(day)[3:]
        wobble = _ar1(rng.standard_normal(BLOCK_MINUTES), 0.8)
        return np.clip(mean + spread * wobble, 0.05, 1.05)

    # -- per day ---------------------------------------------------------------------------

    def _days_curves(self, day: int) -> tuple[F64, F64]:
        """H0 and G4 in minute values for yesterday, today and tomorrow (3 x 1440)."""
        return self._day(day)[0], self._day(day)[1]

    def _day(self, day: int) -> tuple[F64, F64, F64, float, float]:
        """(H0 minutes, G4 minutes, charging sessions (2, chargers) as start and end,
        clear-sky mean, clear-sky spread) of ``day`` (days since 1970-01-01)."""
        known = self._days.get(day)
        if known is not None:
            return known
        dates = [dt.date(1970, 1, 1) + dt.timedelta(days=day + k) for k in (-1, 0, 1)]
        h0 = np.repeat(np.concatenate([bdew.curve("H0", d, self.holidays) for d in dates]), 15)
        g4 = np.repeat(np.concatenate([bdew.curve("G4", d, self.holidays) for d in dates]), 15)
        rng = np.random.default_rng([self.seed, _DAYS, day])
        mean, spread = _weather(rng)
        sessions = self._sessions(rng, day, bdew.day_type(dates[1], self.holidays))
        if len(self._days) >= 4:
            self._days.pop(next(iter(self._days)))
        self._days[day] = (h0, g4, sessions, mean, spread)
        return self._days[day]

    def _sessions(self, rng: np.random.Generator, day: int, kind: bdew.DayType) -> F64:
        n = len(self._chargers)
        workday = kind == bdew.DayType.WORKDAY
        plugged = rng.random(n) < self._ev_daily * (1.0 if workday else 0.8)
        late = rng.normal(0.0, 0.75 if workday else 3.0, n)
        arrive = day * _DAY + 3600.0 * np.clip(self._ev_arrive + late, 0.0, 23.9)
        leave = (day + 1) * _DAY + 3600.0 * (self._ev_leave + rng.normal(0.0, 0.5, n))
        need = np.clip(self._ev_kwh * rng.lognormal(0.0, 0.5, n), 1.0, 60.0)
        end = np.minimum(arrive + need * 3.6e6 / _CHARGER_W, leave)
        end = np.where(plugged & (end > arrive), end, arrive)  # no session: empty interval
        return np.stack([arrive, end])

    def _charging(self, start: float, day: int) -> F64:
        """The share of each minute of the block that each charger spends charging."""
        edges = start + 60.0 * np.arange(BLOCK_MINUTES)[:, None]
        share = np.zeros((BLOCK_MINUTES, len(self._chargers)))
        for sessions in (self._day(day - 1)[2], self._day(day)[2]):
            inside = np.minimum(edges + 60.0, sessions[1]) - np.maximum(edges, sessions[0])
            share += np.clip(inside, 0.0, 60.0) / 60.0
        return np.minimum(share, 1.0)


def _weather(rng: np.random.Generator) -> tuple[float, float]:
    """A day's clear-sky index: clear (35 %), broken cloud (40 %) or overcast (25 %)."""
    kind = rng.random()
    if kind < 0.35:
        return float(rng.uniform(0.9, 1.0)), 0.02
    if kind < 0.75:
        return float(rng.uniform(0.5, 0.85)), 0.2
    return float(rng.uniform(0.15, 0.4)), 0.05


def _ar1(shocks: NDArray[np.floating], rho: float) -> F64:
    """A stationary unit-variance AR(1) series along axis 0 driven by ``shocks``."""
    out = np.empty(shocks.shape)
    out[0] = shocks[0]
    gain = math.sqrt(1.0 - rho * rho)
    for k in range(1, shocks.shape[0]):
        out[k] = rho * out[k - 1] + gain * shocks[k]
    return out


def _lognormal_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: float, rho: float
) -> F64:
    """Correlated multiplicative noise with mean 1."""
    x = _ar1(rng.standard_normal(shape, dtype=np.float32), rho)
    return np.exp(sigma * x - 0.5 * sigma * sigma)


def _on_off_chain(rng: np.random.Generator, share: F64, off_rate: float) -> F64:
    """A two-state Markov chain per column whose stationary on-probability tracks ``share``
    (at most 0.5): on -> off with ``off_rate`` per minute, off -> on at the rate that balances
    it. Starts from the stationary state; returns 1.0 for on, 0.0 for off."""
    draws = rng.random(share.shape, dtype=np.float32)
    on_rate = off_rate * share / (1.0 - share)
    state = np.empty(share.shape, dtype=bool)
    state[0] = draws[0] < share[0]
    for k in range(1, share.shape[0]):
        state[k] = np.where(state[k - 1], draws[k] >= off_rate, draws[k] < on_rate[k])
    return state.astype(np.float64)
