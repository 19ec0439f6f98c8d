"""Theft and anomaly scoring per meter: its consumption against its own history and its
peers, the district balance, and its tamper events.

Theory of operation. Each day of a meter is summarised by five figures: its energy, how far
its shape is from the meter's usual day (one minus the correlation with the mean of the
previous days), its roughness (mean absolute step-to-step change over the mean absolute
value), its spread (standard deviation over the mean absolute value) and the share of its
intervals that read exactly zero. Each figure is turned into a z-score against the same
meter's previous days (their mean and standard deviation, with a floor so a very regular
meter does not make noise into alarms), and the energy and shape z-scores are taken relative
to the median of the meter's peers that day (its district or cluster when given, else the
fleet), so a cold day or a holiday that moves everyone is nobody's anomaly. A day's score adds
the suspicious directions: less energy than usual, a shape unlike the usual, and roughness,
spread or zeros out of the usual in either direction (each capped at 10). These catch the
injections of Jokar et al. (2016): scaling (h1, energy), cut-outs (h2, zeros and shape), random
factors (h3, h4: roughness), flattening (h5: spread and shape) and shifting (h6: shape).

:class:`AnomalyState` does this one day at a time (a day's score uses only the days before
it), which is how the station runs it; :func:`score_days` folds the same state over a block
of days. :func:`score_meters` averages each meter's last ``recent_days`` day scores and adds,
when given, the district balance's evidence and its tamper events (cover opened, magnet,
reverse energy, clock changes, power-down patterns, counted per meter by the caller).

The balance's evidence must be attributed to a meter, not to its district: a district with
ten tampered meters has one unexplained loss. :func:`balance_evidence` (``supply=``) asks,
meter by meter, whether the district's unexplained loss over the recent days rises and falls
with that meter's drop from its usual day: it does for a meter whose missing energy the
district meter still sees (cut-outs, flattened or reversed days), not for an honest one whose
swings the district meter sees as well, nor for a load that really fell. Only the part of a
meter's robust z-score among its district's meters beyond ERROR_Z counts. The older form,
``meter_errors=`` (how far the meter's error estimated by
:func:`wattguard.analytics.lineloss.estimate_meter_errors` sits out of the fleet's spread),
is kept for callers that hold only the estimates; with many tampered meters in a district the
balance fit moves honest meters' estimates too, and that form then lowers the detection rate
at a low false-positive rate (docs/analytics.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_curves, as_days

__all__ = [
    "FEATURE_NAMES",
    "AnomalyState",
    "balance_evidence",
    "calibrate_threshold",
    "day_features",
    "rolling_scores",
    "score_days",
    "score_meters",
]

#: Days of history a meter needs before its days are scored.
MIN_HISTORY = 7
#: Fewest scored meters in a peer group for its median to count.
MIN_PEERS = 5
#: Each part of a day's score is capped here, so one wild figure does not drown the rest.
CAP = 10.0
#: The smallest spread of meters' estimated errors (registered/true - 1) that scores count in.
ERROR_SCALE = 0.02
#: Robust z-scores of a meter's estimated error up to this count as nothing: an honest meter's
#: estimate is noise, and adding it to every score blurs what the consumption already shows.
ERROR_Z = 4.0
_FEATURES = 5  # energy, shape distance, roughness, spread, zero share
#: What each part of a day's score stands for (in the order of :attr:`AnomalyState.parts`).
FEATURE_NAMES = ("less energy", "shape", "roughness", "spread", "zeros")
#: Floors of the standard deviations: relative for energy, roughness and spread, absolute for
#: the shape distance and the zero share.
_RELATIVE_FLOOR = 0.05
_ABSOLUTE_FLOOR = np.array([0.0, 0.02, 0.0, 0.0, 0.02])


def day_features(day: npt.ArrayLike, usual: npt.ArrayLike) -> FloatArray:
    """(meters, 5) figures of one day: energy, shape distance from ``usual`` (each meter's
    mean day so far, NaN rows when unknown), roughness, spread and zero share."""
    x = as_curves(day).astype(np.float64)
    base = np.asarray(usual, dtype=np.float64)
    if not np.isnan(x).any() and not np.isnan(base).any():
        return _complete_day_features(x, base)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing day: NaN, said below
        energy = np.nansum(x, axis=1)
        size = np.nanmean(np.abs(x), axis=1)
        rough = np.nanmean(np.abs(np.diff(x, axis=1)), axis=1) / size
        spread = np.nanstd(x, axis=1) / size
        zero = np.nanmean(x == 0.0, axis=1) if x.size else np.zeros(0)
        xc = x - _row_mean(x)
        bc = base - _row_mean(base)
        both = ~np.isnan(xc) & ~np.isnan(bc)
        xc, bc = np.where(both, xc, 0.0), np.where(both, bc, 0.0)
        corr = (xc * bc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (bc**2).sum(axis=1))
    corr = np.where(np.isnan(corr), 0.0, corr)  # a flat day correlates with nothing
    zero = np.where(np.isnan(x).all(axis=1), np.nan, zero)
    rough = np.where(size > 0, rough, 0.0)
    spread = np.where(size > 0, spread, 0.0)
    return np.stack([energy, 1.0 - corr, rough, spread, zero], axis=1)


def _complete_day_features(x: FloatArray, base: FloatArray) -> FloatArray:
    """:func:`day_features` for a day and a usual day without a missing interval (the common
    case), with the plain reductions, several times faster than the NaN-aware ones."""
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.abs(x).mean(axis=1)
        rough = np.abs(np.diff(x, axis=1)).mean(axis=1) / size
        xc = x - x.mean(axis=1, keepdims=True)
        spread = np.sqrt((xc**2).mean(axis=1)) / size
        bc = base - base.mean(axis=1, keepdims=True)
        corr = (xc * bc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (bc**2).sum(axis=1))
    corr = np.where(np.isnan(corr), 0.0, corr)
    return np.stack(
        [
            x.sum(axis=1),
            1.0 - corr,
            np.where(size > 0, rough, 0.0),
            np.where(size > 0, spread, 0.0),
            (x == 0.0).mean(axis=1),
        ],
        axis=1,
    )


def _row_mean(values: FloatArray) -> FloatArray:
    """Each row's mean over its present values (NaN for a row with none), without a warning."""
    present = ~np.isnan(values)
    count = present.sum(axis=1, keepdims=True)
    total = np.where(present, values, 0.0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass
class AnomalyState:
    """The per-meter history the scores need, one day at a time: the count, sum and sum of
    squares of each day figure and the sum of the days' curves (missing intervals left out).
    ``groups`` numbers each meter's peer group (district or cluster) 0, 1, ...; None puts
    the whole fleet in one group."""

    meters: int
    steps_per_day: int
    groups: npt.NDArray[np.intp] | None = None
    days: npt.NDArray[np.intp] = field(init=False, repr=False)
    sums: FloatArray = field(init=False, repr=False)
    squares: FloatArray = field(init=False, repr=False)
    curve_sums: FloatArray = field(init=False, repr=False)
    curve_counts: npt.NDArray[np.intp] = field(init=False, repr=False)
    #: The last day's score by part (meters, 5; FEATURE_NAMES): the evidence of an alert.
    parts: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parts = np.zeros((self.meters, _FEATURES))
        self.days = np.zeros(self.meters, dtype=np.intp)
        self.sums = np.zeros((self.meters, _FEATURES))
        self.squares = np.zeros((self.meters, _FEATURES))
        self.curve_sums = np.zeros((self.meters, self.steps_per_day))
        self.curve_counts = np.zeros((self.meters, self.steps_per_day), dtype=np.intp)
        if self.groups is not None:
            self.groups = np.asarray(self.groups, dtype=np.intp)
            if self.groups.shape != (self.meters,) or (self.groups < 0).any():
                raise AnalysisInputError("groups needs one group number (>= 0) per meter")

    def add_day(self, day: npt.ArrayLike) -> FloatArray:
        """Score one day, (meters, steps_per_day), against the history, then add it to the
        history. Returns one score per meter; NaN while a meter has under MIN_HISTORY days,
        or for a day it did not report at all."""
        x = as_curves(day, self.steps_per_day)
        if x.shape != (self.meters, self.steps_per_day):
            raise AnalysisInputError(f"a day is ({self.meters}, {self.steps_per_day})")
        with np.errstate(invalid="ignore", divide="ignore"):
            usual = np.where(self.curve_counts > 0, self.curve_sums / self.curve_counts, np.nan)
        features = day_features(x, usual)
        scores = self._score(features)
        reported = np.asarray(~np.isnan(x).all(axis=1), dtype=bool)
        f = np.where(reported[:, None], np.nan_to_num(features), 0.0)
        self.sums += f
        self.squares += f**2
        self.days += reported
        self.curve_sums += np.nan_to_num(x)
        self.curve_counts += ~np.isnan(x)
        scores[~reported] = np.nan
        return scores

    def _score(self, features: FloatArray) -> FloatArray:
        n = np.maximum(self.days, 1)[:, None]
        mean = self.sums / n
        sd = np.sqrt(np.maximum(self.squares / n - mean**2, 0.0))
        floor = np.maximum(_RELATIVE_FLOOR * np.abs(mean), _ABSOLUTE_FLOOR[None, :]) + 1e-9
        z = (features - mean) / np.maximum(sd, floor)
        z[:, 0] -= self._peer_median(z[:, 0])
        z[:, 1] -= self._peer_median(z[:, 1])
        parts = np.stack([-z[:, 0], z[:, 1], np.abs(z[:, 2]), np.abs(z[:, 3]), z[:, 4]], axis=1)
        self.parts = np.clip(np.nan_to_num(parts), 0.0, CAP)
        score = self.parts.sum(axis=1)
        score[self.days < MIN_HISTORY] = np.nan
        return np.asarray(score)

    def _peer_median(self, values: FloatArray) -> FloatArray:
        """Each meter's peer group's median of ``values`` (0 for a group of under MIN_PEERS
        scored meters: a meter is not its own peer)."""
        ready = (self.days >= MIN_HISTORY) & ~np.isnan(values)
        out = np.zeros(values.size)
        if self.groups is None:
            if ready.sum() >= MIN_PEERS:
                out[:] = np.median(values[ready])
            return out
        for group in np.unique(self.groups[ready]):
            members = self.groups == group
            if (members & ready).sum() >= MIN_PEERS:
                out[members] = np.median(values[members & ready])
        return out


def score_days(
    curves: npt.ArrayLike, steps_per_day: int, groups: npt.ArrayLike | None = None
) -> FloatArray:
    """(meters, days) day scores, each day against the days before it (NaN for the first
    MIN_HISTORY days of a meter)."""
    days = as_days(curves, steps_per_day)
    peer = None if groups is None else np.asarray(groups, dtype=np.intp)
    state = AnomalyState(days.shape[0], steps_per_day, peer)
    out = np.empty(days.shape[:2])
    for d in range(days.shape[1]):
        out[:, d] = state.add_day(days[:, d])
    return out


def rolling_scores(days: npt.ArrayLike, recent_days: int = 7) -> FloatArray:
    """(meters, days) meter scores as :func:`score_meters` gives them on each day: the mean of
    the day scores (``days``, from :func:`score_days`) of the last ``recent_days`` days that
    have one (NaN where none)."""
    values = np.asarray(days, dtype=np.float64)
    present = ~np.isnan(values)
    sums = np.cumsum(np.where(present, values, 0.0), axis=1)
    counts = np.cumsum(present, axis=1)
    lagged = np.zeros_like(sums[:, :1])
    sums = (
        sums
        - np.concatenate([np.repeat(lagged, recent_days, axis=1), sums], axis=1)[
            :, : values.shape[1]
        ]
    )
    counts = (
        counts
        - np.concatenate(
            [np.zeros((values.shape[0], recent_days), dtype=counts.dtype), counts], axis=1
        )[:, : values.shape[1]]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))


def calibrate_threshold(scores: npt.ArrayLike, false_positive_rate: float) -> float:
    """The score above which ``false_positive_rate`` of honest ``scores`` lie: the
    (1 - rate) quantile of the present (not NaN) meter scores of a history taken as honest,
    so an alert at this threshold is raised on about that share of honest meter-days.
    NaN while there are fewer than 1 / rate scores (the quantile would be the maximum)."""
    if not 0.0 < false_positive_rate < 1.0:
        raise AnalysisInputError("a false-positive rate is in (0, 1)")
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size < 1.0 / false_positive_rate:
        return float("nan")
    return float(np.quantile(values, 1.0 - false_positive_rate))


def _error_evidence(errors: FloatArray) -> FloatArray:
    """How far each meter's estimated error sits out of the fleet's spread of estimates
    (robust z-score: median and MAD, the MAD floored at ERROR_SCALE / 4) beyond ERROR_Z,
    capped at CAP.
    Both signs count: an injection that moves energy between hours (h5, h6) can leave a
    meter's error estimate either side of zero."""
    present = errors[~np.isnan(errors)]
    centre = float(np.median(present)) if present.size else 0.0
    mad = float(np.median(np.abs(present - centre))) if present.size else 0.0
    spread = max(1.4826 * mad, ERROR_SCALE / 4)
    z = np.nan_to_num(np.abs(errors - centre) / spread)
    return np.asarray(np.clip(z - ERROR_Z, 0.0, CAP))


def score_meters(
    curves: npt.ArrayLike,
    steps_per_day: int,
    *,
    recent_days: int = 7,
    groups: npt.ArrayLike | None = None,
    meter_errors: npt.ArrayLike | None = None,
    events: npt.ArrayLike | None = None,
    supply: npt.ArrayLike | None = None,
) -> FloatArray:
    """One score per meter, higher = more suspicious, from ``curves`` (meters, steps) of
    energy per interval (NaN where missing) alone; ``groups`` (peer group per meter),
    ``meter_errors`` (the balance's estimated error per meter), ``events`` (tamper events
    per meter) and ``supply`` (the district meters' energy per interval, (districts, steps),
    row g for the meters of group g; with ``groups`` the districts) add their evidence when
    given. ``supply`` is the district balance's evidence to prefer: see
    :func:`balance_evidence`."""
    array = as_curves(curves, steps_per_day)
    meters = array.shape[0]
    if recent_days < 1:
        raise AnalysisInputError("recent_days must be at least 1")
    days = score_days(array, steps_per_day, groups)
    recent = days[:, -recent_days:]
    with np.errstate(invalid="ignore"):
        counted = (~np.isnan(recent)).sum(axis=1)
        score = np.where(counted > 0, np.nansum(recent, axis=1) / np.maximum(counted, 1), 0.0)
    if meter_errors is not None:
        errors = np.asarray(meter_errors, dtype=np.float64)
        if errors.shape != (meters,):
            raise AnalysisInputError("meter_errors needs one error per meter")
        score = score + _error_evidence(errors)
    if supply is not None:
        owner = np.zeros(meters, dtype=np.intp) if groups is None else np.asarray(groups)
        score = score + balance_evidence(array, supply, owner, steps_per_day, recent_days)
    if events is not None:
        counts = np.asarray(events, dtype=np.float64)
        if counts.shape != (meters,) or (counts < 0).any():
            raise AnalysisInputError("events needs one count (>= 0) per meter")
        score = score + np.log1p(counts)
    return np.asarray(score)


def balance_evidence(
    curves: npt.ArrayLike,
    supply: npt.ArrayLike,
    district: npt.ArrayLike,
    steps_per_day: int,
    recent_days: int = 7,
) -> FloatArray:
    """How strongly the district's unexplained loss over the last ``recent_days`` days follows
    each meter's drop from its usual day: per meter, the part of its robust z-score among its
    district's meters beyond ERROR_Z, capped at CAP (0 where it cannot be told).

    ``curves`` (meters, steps), ``supply`` (districts, steps) and ``district`` (row of
    ``supply`` for each meter). Over the recent intervals where the supply and every reading
    of the district are present, the unexplained loss is the supply minus the readings, and a
    meter's drop its usual day (the mean by interval of the day over the days before the
    window) minus its reading; the loss model (a constant, the supply and its square: the
    supply is what theft does not change) is projected out of both. The t-statistic of the
    loss regressed on the drop is near 0 for an honest meter, whose swings the district meter
    sees as well, and large for one whose missing energy shows up in the loss, interval by
    interval. The robust z-score (median and MAD of the district's meters) takes out what the
    whole district shares (the loss model's misfit, a cold day)."""
    x = as_curves(curves, steps_per_day).astype(np.float64)
    meters, steps = x.shape
    owner = np.asarray(district)
    total = np.asarray(supply, dtype=np.float64)
    total = total[None, :] if total.ndim == 1 else total
    if total.ndim != 2 or total.shape[1] != steps:
        raise AnalysisInputError(f"supply is (districts, {steps}): one row per district")
    if owner.shape != (meters,) or not np.issubdtype(owner.dtype, np.integer):
        raise AnalysisInputError("district needs one integer row of supply per meter")
    if owner.size and (owner.min() < 0 or owner.max() >= total.shape[0]):
        raise AnalysisInputError("supply needs one row per district number")
    out = np.zeros(meters)
    history = steps // steps_per_day - recent_days
    if history < MIN_HISTORY or recent_days < 1:
        return out
    split = history * steps_per_day
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a meter with no history: NaN
        usual = np.nanmean(x[:, :split].reshape(meters, history, steps_per_day), axis=1)
    for g in np.unique(owner):
        rows = np.flatnonzero(owner == g)
        out[rows] = _district_evidence(x[rows, split:], total[g, split:], usual[rows])
    return out


def _district_evidence(recent: FloatArray, supply: FloatArray, usual: FloatArray) -> FloatArray:
    """:func:`balance_evidence` for one district's meters over the recent window."""
    meters = recent.shape[0]
    keep = ~np.isnan(supply) & ~np.isnan(recent).any(axis=0)
    told = ~np.isnan(usual).any(axis=1)
    if keep.sum() < 4 or told.sum() < MIN_PEERS:
        return np.zeros(meters)
    phase = np.flatnonzero(keep) % usual.shape[1]
    drop = usual[told][:, phase] - recent[told][:, keep]
    supplied = supply[keep]
    level = supplied / max(float(np.abs(supplied).mean()), 1e-12)
    basis, _ = np.linalg.qr(np.stack([np.ones_like(level), level, level**2], axis=1))
    loss = supplied - recent[:, keep].sum(axis=0)
    loss = loss - basis @ (basis.T @ loss)
    drop = drop - (drop @ basis) @ basis.T
    size = (drop**2).sum(axis=1)
    slope = drop @ loss / np.maximum(size, 1e-300)
    rest = np.sqrt(((loss[None, :] - slope[:, None] * drop) ** 2).mean(axis=1))
    t = np.where(size > 0, slope * np.sqrt(size) / np.maximum(rest, 1e-300), 0.0)
    centre = float(np.median(t))
    spread = 1.4826 * float(np.median(np.abs(t - centre))) + 1e-12
    out = np.zeros(meters)
    out[told] = np.clip((t - centre) / spread - ERROR_Z, 0.0, CAP)
    return out
