"""Line loss per district (transformer area) and the meter errors its energy balance reveals.

Theory of operation. A district meter at the transformer measures the area's supply; the
customers' meters measure what they take. The difference is the line loss: technical loss in
the low-voltage network (I^2 R on the feeders plus the transformer's no-load loss, a few per
cent) and non-technical loss (a bypass, a meter that registers too little, a broken meter).

1. The **daily line-loss rate** (:func:`daily_loss`) is (supply - sum of customers) / supply,
   per day, with the number of intervals that went into it. :class:`LossMonitor` keeps each
   district's history one day at a time and raises an :class:`AbnormalLoss` when a day's rate
   is out of the district's own range (a robust z-score against the median and MAD of the
   previous days) or beyond the absolute limits a utility sets (negative: a meter registers
   more than was supplied; above ``high``: energy leaves the network unmetered).
2. **Localisation** (:func:`estimate_meter_errors`). If meter i registers ``(1 + e_i)`` times
   its true energy, then in every interval t

       supply_t = sum_i w_i * reading_it + a + b * (sum_i reading_it)^2 + noise,  w_i = 1/(1+e_i)

   where a is the no-load loss and b * S^2 the feeders' I^2 R loss (the aggregate's square
   stands in for the feeders' squares). Fitting the w_i by plain least squares fails: the
   customers move together (same weather, same habits), so the design matrix is nearly
   collinear and the estimates swing by tens of per cent. We fit d_i = w_i - 1 instead, with

   * a **prior toward zero error** (ridge): most meters are right; the penalty is
     sigma^2 / (tau^2 + d_i^2) per meter, where sigma^2 is the residual variance of the
     previous pass and tau = 2 %: an empirical-Bayes ridge whose penalty relaxes for a meter
     the data clearly moves (a heavy-tailed prior), so a 40 % bypass is not shrunk to 10 %;
   * the **loss model** (a and b, unpenalised), so load-dependent losses are not blamed on
     the biggest customers;
   * **robust weights** on intervals (Huber, iteratively reweighted), so a glitch of the
     district meter or a missing-data artefact does not move every estimate.

   The error is fitted separately for each hour of the day (``blocks``), so theft at some
   hours only (a bypass switched in for the evening) is seen: the meter's error is then its
   registered over its estimated true energy, minus one. The hours' columns never overlap,
   so the normal equations are solved hour by hour through the Schur complement of the few
   shared loss columns, at the cost of one fit.

   The per-hour fit pays for its reach with noise: each hour's coefficients rest on a
   twenty-fourth of the intervals. So a **second stage** refits with one coefficient per meter
   over the whole day for every meter but the suspects (a first-stage error beyond 5 % and 4
   robust spreads of the district's estimates), which keep theirs per hour; the first stage's
   interval weights are kept, so the weighted normal equations are built once. Intervals are
   weighted by the inverse square of the summed readings in both stages: the loss model's
   error grows with the load, and the heavy intervals would otherwise dominate the fit.

   A meter that reads exactly zero over stretches (a broken meter, a cut register) has no
   reading to scale, and its missing load is too smooth to tell from technical loss in the
   balance. Its zeros are the evidence: over them it is taken to draw its own usual day (the
   mean by interval of the day of what it read, or the district's mean customer if it never
   read), which is removed from the balance before the fit and counted in its true energy.
   Its true load's swings over its zeros are unknown, and they are exactly what tells the
   other customers apart, so the second stage leaves those intervals out (when at least a
   tenth of the intervals remain). A meter that read nothing at all comes out at -1; the
   zeros of a customer who really used nothing (an empty house, an open relay) ask for a
   visit all the same.

Intervals where the supply or any customer reading is missing (NaN) are left out of the fit
and counted; the finer the intervals the better the balance is determined (15-minute curves
give 96 equations a day, daily totals one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular

from wattguard.analytics._arrays import (
    AnalysisInputError,
    FloatArray,
    as_curves,
    as_days,
    as_series,
)

__all__ = [
    "AbnormalLoss",
    "LossMonitor",
    "daily_loss",
    "estimate_meter_errors",
    "rank_meters",
]

#: Prior spread of a meter's error: most meters are within a couple of per cent.
PRIOR_ERROR = 0.02
_PASSES = 4
#: Parts of the day fitted apart, so theft at some hours only is seen.
BLOCKS = 24
_HUBER = 1.345
#: A first-pass error this large (and this many robust spreads) keeps its per-block fit.
_SUSPECT = 0.05
_SUSPECT_Z = 4.0
#: Share of intervals with every meter reading that the second stage needs to leave the rest out.
_SEEN = 0.1
#: A run of exactly-zero readings at least this long marks a meter as reading nothing.
_ZERO_RUN = 8


def daily_loss(
    supply: npt.ArrayLike, customers: npt.ArrayLike, steps_per_day: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """A district's daily line loss: (loss energy, loss rate, intervals used) per day.

    Only intervals where the supply and every customer reading are present count; a day with
    none has NaN loss.
    """
    readings = as_curves(customers, steps_per_day)
    total = as_series(supply, readings.shape[1], "supply")
    present = ~np.isnan(total) & ~np.isnan(readings).any(axis=0)
    days = present.size // steps_per_day
    balance = np.where(present, total - np.nansum(readings, axis=0), 0.0).reshape(days, -1)
    supplied = np.where(present, total, 0.0).reshape(days, -1).sum(axis=1)
    used = present.reshape(days, -1).sum(axis=1).astype(np.intp)
    energy = np.where(used > 0, balance.sum(axis=1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where((used > 0) & (supplied > 0), energy / supplied, np.nan)
    return energy, rate, used


def _zero_runs(readings: FloatArray) -> npt.NDArray[np.bool_]:
    """(meters, intervals): inside a run of at least _ZERO_RUN exactly-zero readings."""
    zero = readings == 0.0
    out = np.zeros_like(zero)
    for meter in np.flatnonzero(zero.sum(axis=1) >= _ZERO_RUN):
        row = np.concatenate(([0], zero[meter].astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(row))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            if end - start >= _ZERO_RUN:
                out[meter, start:end] = True
    return np.asarray(out, dtype=bool)


def estimate_meter_errors(
    supply: npt.ArrayLike,
    customers: npt.ArrayLike,
    *,
    steps_per_day: int = 96,
    blocks: int = BLOCKS,
    feeders: npt.ArrayLike | None = None,
) -> FloatArray:
    """Each customer meter's relative error (reading / true - 1) from the district balance.

    ``supply`` is the district meter's energy per interval, shape (intervals,); ``customers``
    the customer meters' registered energy over the same intervals, shape (meters, intervals);
    NaN where missing. A bypass hiding 40 % comes out near -0.4, a meter reading 2 % high near
    +0.02. ``steps_per_day`` places each interval in its time of day (the first interval
    starts a day), and the error is fitted separately in ``blocks`` equal parts of the day so
    that theft at some hours only is seen (daily data: ``steps_per_day=1``, one block; each
    block is a fit of every meter, so there are never more blocks than complete intervals per
    meter: daily or hourly data given with the default gets fewer, down to one). See the
    module's theory of operation for the model and why it is regularised.

    ``feeders``, when the station knows the network's topology, gives each meter's feeder
    (any integer label per meter): the I^2 R loss is then modelled feeder by feeder, one
    coefficient per feeder, instead of as if the area were one feeder. The one-feeder model
    misplaces each customer's share of the losses by its feeder's load share, which biases its
    error by up to a per cent or so; with the feeders known a +/-2 % meter is found to a few
    tenths of a per cent.
    """
    readings = as_curves(customers)
    total = as_series(supply, readings.shape[1], "supply")
    if steps_per_day < 1 or blocks < 1:
        raise AnalysisInputError("steps_per_day and blocks must be positive")
    groups = _feeder_groups(feeders, readings.shape[0])
    keep = ~np.isnan(total) & ~np.isnan(readings).any(axis=0)
    if keep.sum() < 3:
        raise AnalysisInputError("the balance needs at least three complete intervals")
    # Each block of the day is its own fit of every meter: it needs at least as many
    # intervals as there are meters, or it says nothing the prior did not (hourly or daily
    # data given with the default 96 steps a day, or a short window, gets fewer blocks).
    blocks = max(1, min(blocks, steps_per_day, int(keep.sum()) // readings.shape[0]))
    block = (np.arange(total.size) % steps_per_day * blocks // steps_per_day)[keep]
    r = readings[:, keep].astype(np.float64)
    y = total[keep]
    zero = _zero_runs(r)
    meters = r.shape[0]
    phase = (np.arange(total.size) % steps_per_day)[keep]
    system = _System(r, y, block, blocks, zero, phase, groups)
    coef = system.solve()
    d = coef[: meters * blocks].reshape(blocks, meters)
    if blocks > 1:
        d = system.refit(d, _suspects(_errors(r, block, blocks, d, system)))
    return _errors(r, block, blocks, d, system)


def _suspects(errors: FloatArray) -> npt.NDArray[np.intp]:
    """Meters whose first-pass error stands out: far beyond the honest meters' scatter."""
    size = np.abs(errors)
    spread = 1.4826 * float(np.median(size))
    return np.flatnonzero(size > max(_SUSPECT, _SUSPECT_Z * spread)).astype(np.intp)


def _errors(
    r: FloatArray,
    block: npt.NDArray[np.intp],
    blocks: int,
    d: FloatArray,
    system: _System,
) -> FloatArray:
    """Registered over estimated true energy, minus one, from per-block coefficients."""
    per_block = np.stack([r[:, block == b].sum(axis=1) for b in range(blocks)])
    registered = np.abs(per_block).sum(axis=0)
    true = ((1.0 + d) * np.abs(per_block)).sum(axis=0)
    true[system.stand_ins] += system.stand_in.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(np.abs(true) > 1e-12, registered / true - 1.0, 0.0)
    return np.asarray(errors)


class _System:
    """The penalised, robust least-squares problem of one district's balance.

    Unknowns: d[b, i] for each block of the day b and meter i (penalised toward 0), the
    no-load loss a and the I^2 R coefficient b (free). The meters' columns of different
    blocks never overlap, so the normal equations are assembled block by block: the cost is
    intervals x meters^2 whatever the number of blocks.
    """

    def __init__(
        self,
        r: FloatArray,
        y: FloatArray,
        block: npt.NDArray[np.intp],
        blocks: int,
        zero: npt.NDArray[np.bool_],
        phase: npt.NDArray[np.intp],
        groups: npt.NDArray[np.intp],
    ) -> None:
        meters, intervals = r.shape
        self.meters, self.blocks = meters, blocks
        self.stand_ins = np.flatnonzero(zero.any(axis=1))
        self.stand_in = (
            np.stack([_stand_in(r[m], zero[m], phase, r) for m in self.stand_ins], axis=1)
            if self.stand_ins.size
            else np.zeros((intervals, 0))
        )
        target = y - r.sum(axis=0) - self.stand_in.sum(axis=1)  # the balance, meters right
        losses = _loss_columns(r, groups)
        self.size = meters * blocks + losses.shape[1]
        self.penalised = np.zeros(self.size, dtype=bool)
        self.penalised[: self.size - losses.shape[1]] = True
        columns = np.concatenate([(r**2).sum(axis=1)] * blocks + [(losses**2).sum(axis=0)])
        self.scale = np.sqrt(columns / intervals)
        self.scale[self.scale == 0] = 1.0
        # Everything in block order, scaled, once: the passes only reweight.
        order = np.argsort(block, kind="stable")
        self.bounds = np.searchsorted(block[order], np.arange(blocks + 1))
        self.x = [
            r[:, order[lo:hi]].T / self.scale[b * meters : (b + 1) * meters]
            for b, (lo, hi) in enumerate(zip(self.bounds[:-1], self.bounds[1:], strict=True))
        ]
        self.extra = losses[order] / self.scale[meters * blocks :]
        self.target = target[order]
        self.blind = np.asarray(zero.any(axis=0), dtype=bool)[order]
        # The loss model's error grows with the load (I^2 R), so intervals are weighted by
        # the inverse square of the summed readings (floored at a fifth of their mean).
        level = np.abs(r.sum(axis=0))[order]
        floor = max(0.2 * float(level.mean()), 1e-12)
        self.base = (float(level.mean()) / np.maximum(level, floor)) ** 2

    def predict(self, scaled: FloatArray) -> FloatArray:
        """The fitted balance (in block order) for scaled coefficients."""
        m = self.meters
        parts = [x @ scaled[b * m : (b + 1) * m] for b, x in enumerate(self.x)]
        return np.asarray(np.concatenate(parts) + self.extra @ scaled[m * self.blocks :])

    def solve(self) -> FloatArray:
        """Iteratively reweighted: interval weights (Huber) and per-coefficient priors."""
        weights = self.base.copy()
        scaled = np.zeros(self.size)
        sigma2 = 0.0
        for step in range(_PASSES):
            if step == 0:  # nearly plain least squares: an unbiased start, noisy but not spread
                ridge = np.where(self.penalised, 1e-3 * self.target.size, 0.0)
            else:
                coef = scaled / self.scale
                ridge = np.where(
                    self.penalised, sigma2 / (PRIOR_ERROR**2 + coef**2) / self.scale**2, 0.0
                )
            scaled = self._solve_once(weights, ridge)
            residual = (self.target - self.predict(scaled)) * np.sqrt(self.base)
            sigma = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) + 1e-12
            sigma2 = sigma**2
            huber = np.minimum(1.0, _HUBER * sigma / np.maximum(np.abs(residual), 1e-300))
            weights = self.base * huber
        self.weights, self.sigma2 = weights, sigma2
        return np.asarray(scaled / self.scale)

    def refit(self, d: FloatArray, suspects: npt.NDArray[np.intp]) -> FloatArray:
        """The second stage: one coefficient per meter for all but the ``suspects`` (which
        keep one per block), so an honest meter's error is estimated from all its intervals
        at once instead of from each hour's few. The interval weights of the first stage are
        kept, so the weighted normal equations are built once and only the priors iterate."""
        m, blocks = self.meters, self.blocks
        singles = np.setdiff1d(np.arange(m), suspects)
        whole = np.concatenate(self.x)  # (intervals in block order, meters), scaled
        which = np.repeat(np.arange(blocks), np.diff(self.bounds))
        parts = [whole[:, singles]]
        parts += [whole[:, [s]] * (which == b)[:, None] for s in suspects for b in range(blocks)]
        design = np.concatenate([*parts, self.extra], axis=1)
        scale = np.concatenate(
            [self.scale[singles], np.repeat(self.scale[suspects], blocks), self.scale[m * blocks :]]
        )
        penalised = np.arange(design.shape[1]) < design.shape[1] - self.extra.shape[1]
        # While a meter reads zero, its true load is unknown to the interval: its swings (the
        # very thing that tells customers apart) would be noise in every other estimate. Those
        # intervals are left out of the second stage when enough others remain.
        weights = self.weights
        if 0 < self.blind.mean() < 1.0 - _SEEN:
            weights = np.where(self.blind, 1e-6 * weights, weights)
        weighted = design * weights[:, None]
        gram = weighted.T @ design
        rhs = weighted.T @ self.target
        # Start from the first stage: a single meter's mean over the blocks, a suspect's own.
        coef = np.concatenate(
            [d[:, singles].mean(axis=0), d[:, suspects].T.ravel(), np.zeros(self.extra.shape[1])]
        )
        sigma2 = self.sigma2
        for _ in range(_PASSES - 1):
            ridge = np.where(penalised, sigma2 / (PRIOR_ERROR**2 + coef**2) / scale**2, 0.0)
            scaled = np.linalg.solve(gram + np.diag(ridge + 1e-12), rhs)
            coef = scaled / scale
            residual = (self.target - design @ scaled) * np.sqrt(self.base)
            sigma2 = (1.4826 * float(np.median(np.abs(residual - np.median(residual))))) ** 2
        out = np.empty_like(d)
        out[:, singles] = coef[: singles.size]
        out[:, suspects] = (
            coef[singles.size : singles.size + suspects.size * blocks]
            .reshape(suspects.size, blocks)
            .T
        )
        return out

    def _solve_once(self, weights: FloatArray, ridge: FloatArray) -> FloatArray:
        """The normal equations (scaled), solved by the Schur complement of the
        block-diagonal part: each block of the day is its own meters x meters system, coupled
        only through the few shared loss columns."""
        m = self.meters
        tail = slice(m * self.blocks, self.size)
        we = self.extra * weights[:, None]
        shared = we.T @ self.extra + np.diag(ridge[tail])
        shared_rhs = we.T @ self.target
        solved_x, solved_rhs = [], []
        for b, x in enumerate(self.x):
            lo, hi = self.bounds[b], self.bounds[b + 1]
            wx = x * weights[lo:hi, None]
            gram = wx.T @ x + np.diag(ridge[b * m : (b + 1) * m] + 1e-12)
            coupling = wx.T @ self.extra[lo:hi]
            rhs = wx.T @ self.target[lo:hi]
            factor = np.linalg.cholesky(gram)
            inv_c = _cho_solve(factor, coupling)
            inv_r = _cho_solve(factor, rhs)
            shared -= coupling.T @ inv_c
            shared_rhs -= coupling.T @ inv_r
            solved_x.append(inv_c)
            solved_rhs.append(inv_r)
        tail_coef = np.linalg.solve(shared, shared_rhs)
        head = [solved_rhs[b] - solved_x[b] @ tail_coef for b in range(self.blocks)]
        return np.asarray(np.concatenate([*head, tail_coef]))


def _stand_in(
    row: FloatArray, zero: npt.NDArray[np.bool_], phase: npt.NDArray[np.intp], r: FloatArray
) -> FloatArray:
    """A zero-reading meter's likely load over its zero intervals: its own mean day (by
    interval of the day) from the intervals it did read, else the district's mean customer."""
    steps = int(phase.max()) + 1
    read = ~zero
    counts = np.bincount(phase[read], minlength=steps)
    if (counts > 0).all() and row[read].sum() > 0:
        profile = np.bincount(phase[read], weights=row[read], minlength=steps) / counts
    else:
        mean = r.sum(axis=0) / r.shape[0]
        profile = np.bincount(phase, weights=mean, minlength=steps) / np.maximum(
            np.bincount(phase, minlength=steps), 1
        )
    return np.where(zero, profile[phase], 0.0)


def _feeder_groups(feeders: npt.ArrayLike | None, meters: int) -> npt.NDArray[np.intp]:
    """Each meter's feeder as 0..n-1 (all 0 when the topology is not known)."""
    if feeders is None:
        return np.zeros(meters, dtype=np.intp)
    labels = np.asarray(feeders)
    if labels.shape != (meters,) or not np.issubdtype(labels.dtype, np.integer):
        raise AnalysisInputError("feeders must give one integer label per customer meter")
    return np.unique(labels, return_inverse=True)[1].astype(np.intp)


def _loss_columns(r: FloatArray, groups: npt.NDArray[np.intp]) -> FloatArray:
    """The loss model's columns: a constant (the no-load loss) and, per feeder, the square of
    its meters' summed readings (its I^2 R loss; one column for the whole area when the
    feeders are not known)."""
    flows = [r[groups == g].sum(axis=0) ** 2 for g in range(int(groups.max()) + 1)]
    return np.stack([np.ones(r.shape[1]), *flows], axis=1)


def _cho_solve(factor: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve (L L^T) x = rhs for the lower Cholesky factor L."""
    inner = solve_triangular(factor, rhs, lower=True, check_finite=False)
    return np.asarray(solve_triangular(factor.T, inner, lower=False, check_finite=False))


def rank_meters(errors: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Meters ordered from the most to the least suspect: by the size of the estimated error
    (under- and over-registration both need a visit)."""
    values = np.abs(np.asarray(errors, dtype=np.float64))
    return np.argsort(-np.nan_to_num(values, nan=-1.0), kind="stable").astype(np.intp)


@dataclass(frozen=True)
class AbnormalLoss:
    """A district day whose line-loss rate is abnormal, with its evidence: the rate, the
    district's usual rate (median of the previous days) and spread (scaled MAD), the robust
    z-score, the energy lost, and why (``"high"``, ``"negative"`` or ``"jump"``)."""

    district: int
    day: int
    rate: float
    usual: float
    spread: float
    score: float
    energy: float
    reason: str


@dataclass
class LossMonitor:
    """Daily line-loss rates per district, one day at a time, with abnormal-loss alerts.

    :meth:`add_day` takes each district's supply and its customers' readings for one day and
    returns the alerts of that day. ``high`` is the absolute limit of a normal rate, ``jump``
    the robust z-score over the district's own history that counts as abnormal once
    ``warmup`` days are known.
    """

    districts: int
    steps_per_day: int
    high: float = 0.08
    jump: float = 4.0
    warmup: int = 7
    rates: list[FloatArray] = field(default_factory=list)
    energies: list[FloatArray] = field(default_factory=list)

    def add_day(
        self, supply: npt.ArrayLike, customers: npt.ArrayLike, district: npt.ArrayLike
    ) -> list[AbnormalLoss]:
        """One day: ``supply`` (districts, steps_per_day), ``customers`` (meters,
        steps_per_day), ``district`` the district number of each meter."""
        totals = as_days(supply, self.steps_per_day)[:, 0]
        readings = as_curves(customers, self.steps_per_day)
        owner = np.asarray(district, dtype=np.intp)
        if totals.shape[0] != self.districts or owner.shape != (readings.shape[0],):
            raise AnalysisInputError("one supply per district and one district per meter")
        energy = np.full(self.districts, np.nan)
        rate = np.full(self.districts, np.nan)
        for d in range(self.districts):
            loss, day_rate, _ = daily_loss(totals[d], readings[owner == d], self.steps_per_day)
            energy[d], rate[d] = loss[0], day_rate[0]
        alerts = self._judge(rate, energy)
        self.rates.append(rate)
        self.energies.append(energy)
        return alerts

    def _judge(self, rate: FloatArray, energy: FloatArray) -> list[AbnormalLoss]:
        day = len(self.rates)
        history = np.stack(self.rates, axis=1) if self.rates else np.zeros((self.districts, 0))
        alerts = []
        for d in np.flatnonzero(~np.isnan(rate)):
            past = history[d][~np.isnan(history[d])] if history.size else history[d]
            usual = float(np.median(past)) if past.size else float("nan")
            spread = float(1.4826 * np.median(np.abs(past - usual))) if past.size else float("nan")
            spread = max(spread, 0.002) if past.size else spread
            score = (rate[d] - usual) / spread if past.size else float("nan")
            reason = ""
            if rate[d] < 0:
                reason = "negative"
            elif rate[d] > self.high:
                reason = "high"
            elif past.size >= self.warmup and score > self.jump:
                reason = "jump"
            if reason:
                alerts.append(
                    AbnormalLoss(
                        int(d), day, float(rate[d]), usual, spread, score, float(energy[d]), reason
                    )
                )
        return alerts

    def history(self) -> FloatArray:
        """(districts, days) loss rate of every day added."""
        return np.stack(self.rates, axis=1) if self.rates else np.zeros((self.districts, 0))
