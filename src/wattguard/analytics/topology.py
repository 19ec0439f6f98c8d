"""Which low-voltage feeder each customer hangs on, inferred from the meters' own voltages.

Theory of operation. A customer's voltage is the transformer's secondary voltage, minus the
drop along its feeder (the feeder's current times the resistance up to the customer), minus
the drop in its own service cable, plus the meter's error. The feeder drop moves with the
feeder's current, which is the sum of its customers' loads: customers on one feeder see the
same drop series, each scaled by how far along the feeder it sits, and customers on another
feeder see another series. So the voltage series of two customers on one feeder are more alike
than those of two customers on different feeders, and clustering the series by correlation
groups the customers by feeder (the idea behind the published topology identification from
smart-meter voltages; this is our own variant):

1. Each series is differenced (interval to interval), which drops each meter's fixed offset
   and most of the slow medium-voltage variation, and keeps the fast load steps that make the
   feeder drops. The median step across the district's customers is taken off each interval:
   the secondary voltage's own moves are the same for everyone, and with several feeders the
   median customer carries only part of any one feeder's drop.
2. The Pearson correlation of every pair of customers' steps (over the intervals both have;
   NaN marks a missing reading) is their affinity, negative correlations counted as none.
3. Spectral clustering: the eigenvalues of the normalised graph Laplacian of the affinities.
   With ``k=None`` the number of feeders is the eigengap's: the k (2 to ``max_feeders``) after
   which the next eigenvalue jumps the most, the usual choice for spectral clustering (von
   Luxburg 2007, "A tutorial on spectral clustering", section 8.3). The customers' rows of the
   first k eigenvectors, normalised, are grouped by k-means from a deterministic farthest-point
   start (no random draw: the same voltages give the same labels).
4. One feeder or several: on a single feeder, taking the median step off splits near and far
   customers (opposite shares of one drop), so groups appear either way and the eigengap
   cannot say "one". The raw steps (common moves kept) can: on one feeder every pair of
   customers is about as correlated as any other, on several a pair on one feeder is clearly
   more correlated than a pair across feeders. When the groups' :func:`contrast` on the raw
   steps is below :data:`ONE_FEEDER_CONTRAST` the answer is one group (k = 1). A ratio of
   correlations, it does not move with the meters' noise, which lowers every correlation.
   Series with no shared move at all (their raw within-group correlation under three times
   the chance level 1/sqrt(intervals)) also give one group: there is nothing to group by.

Confidence. :class:`FeederInference` gives each customer's silhouette on the correlation
distance (1 - correlation): near 1 when it is much more like its own group than the next, near
0 or below when it sits between groups (check its record first), and their mean; and the
relative eigengap that chose k (the larger, the clearer the number of feeders). A customer with
fewer than a day of voltage steps is labelled -1 and left out.

Labels are arbitrary numbers (0 for the group of the first customer, and so on): they name
groups, not the utility's feeders, which is all the balance fit needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattguard.analytics._arrays import AnalysisInputError, as_curves

__all__ = [
    "ONE_FEEDER_CONTRAST",
    "FeederInference",
    "contrast",
    "infer_feeders",
    "infer_topology",
]

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.intp]

_KMEANS_ROUNDS = 100
#: Below this contrast of the groups found (see :func:`contrast`; on the raw steps, common moves
#: kept) the district is taken to have one feeder. Measured on the simulation: 0.02-0.05 on one
#: feeder, 0.29-0.56 on two or three, whatever the meter noise (0.1-0.5 %).
ONE_FEEDER_CONTRAST = 0.15


@dataclass(frozen=True, slots=True)
class FeederInference:
    """Customers grouped by feeder: ``labels`` (-1 for a customer with too few readings), the
    number of groups ``k``, each customer's ``silhouette`` (NaN when left out or k is 1), their
    ``mean_silhouette`` and the relative ``eigengap`` behind k."""

    labels: IntArray
    k: int
    silhouette: FloatArray
    mean_silhouette: float
    eigengap: float


def infer_feeders(
    voltages: npt.ArrayLike, steps_per_day: int = 96, k: int | None = None
) -> IntArray:
    """Each customer's feeder group from its voltage series (customers x intervals, volts,
    NaN where missing); ``k`` groups, or the eigengap's number when None. See
    :func:`infer_topology` for the confidence."""
    return infer_topology(voltages, steps_per_day, k).labels


def infer_topology(
    voltages: npt.ArrayLike,
    steps_per_day: int = 96,
    k: int | None = None,
    *,
    max_feeders: int = 8,
) -> FeederInference:
    """Group the customers of one district by feeder from their voltage series and say how
    sure the grouping is. Raises :class:`AnalysisInputError` for arrays it cannot take, a
    ``k`` out of range, or fewer than a day of readings."""
    series = as_curves(voltages, steps_per_day)
    meters = series.shape[0]
    if k is not None and not 1 <= k <= max(meters, 1):
        raise AnalysisInputError(f"k must be between 1 and the {meters} customers, not {k}")
    if max_feeders < 1:
        raise AnalysisInputError(f"max_feeders must be positive, not {max_feeders}")
    correlation, kept = _correlations(series, steps_per_day)
    labels = np.full(meters, -1, dtype=np.intp)
    silhouette = np.full(meters, np.nan)
    if kept.size == 0:
        raise AnalysisInputError("no customer has a day of voltage readings")
    if kept.size == 1:
        labels[kept] = 0
        return FeederInference(labels, 1, silhouette, float("nan"), 0.0)
    wanted = None if k is None else min(k, kept.size)  # customers left out cannot be groups
    groups, chosen, gap = _spectral(correlation, wanted, min(max_feeders, kept.size))
    if k is None and chosen > 1 and _one_feeder(series, steps_per_day, groups):
        groups, chosen = np.zeros(kept.size, dtype=np.intp), 1
    labels[kept] = groups
    silhouette[kept] = _silhouettes(1.0 - correlation, groups, chosen)
    mean = float(np.nanmean(silhouette)) if chosen > 1 else float("nan")
    return FeederInference(labels, chosen, silhouette, mean, gap)


def _correlations(
    series: FloatArray, steps_per_day: int, *, common: bool = True
) -> tuple[FloatArray, IntArray]:
    """Pairwise correlation of the kept customers' voltage steps, the median step taken off
    each interval when ``common``, and which customers were kept (those with at least a day of
    steps)."""
    steps = np.diff(series.astype(np.float64), axis=1)
    valid = np.isfinite(steps)
    kept = np.flatnonzero(valid.sum(axis=1) >= steps_per_day)
    steps, valid = steps[kept], valid[kept]
    if kept.size < 2:
        return np.ones((kept.size, kept.size)), kept
    median = np.zeros(steps.shape[1])
    some = valid.any(axis=0)
    if common:
        median[some] = np.nanmedian(steps[:, some], axis=0)
    centred = np.where(valid, steps - median, 0.0)
    counts = valid.sum(axis=1)
    centred -= (centred.sum(axis=1) / counts)[:, None]
    centred[~valid] = 0.0
    scale = np.sqrt((centred**2).sum(axis=1) / counts)
    z = centred / np.where(scale > 0, scale, 1.0)[:, None]
    both = valid.astype(np.float64) @ valid.T.astype(np.float64)
    correlation = (z @ z.T) / np.maximum(both, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return np.clip(correlation, -1.0, 1.0), kept


def _spectral(correlation: FloatArray, k: int | None, max_k: int) -> tuple[IntArray, int, float]:
    """Spectral clustering of the affinities; k given or by the eigengap."""
    affinity = np.clip(correlation, 0.0, None)
    np.fill_diagonal(affinity, 0.0)
    degree = affinity.sum(axis=1)
    inverse_root = 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))
    normalised = affinity * inverse_root[:, None] * inverse_root[None, :]
    # eigenvalues of I - normalised, ascending, are 1 - those of normalised, descending
    values, vectors = np.linalg.eigh(normalised)
    values, vectors = 1.0 - values[::-1], vectors[:, ::-1]
    gaps = np.diff(values[: max_k + 1])
    chosen = k if k is not None else (int(np.argmax(gaps[1:])) + 2 if gaps.size > 1 else 1)
    gap = float(gaps[chosen - 1] / max(values[chosen], 1e-12)) if chosen <= gaps.size else 0.0
    one = np.zeros(correlation.shape[0], dtype=np.intp)
    if chosen == 1:
        return one, 1, gap
    embedding = vectors[:, :chosen]
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding = embedding / np.where(norms > 0, norms, 1.0)
    return _canonical(_kmeans(embedding, chosen)), chosen, gap


def contrast(correlation: FloatArray, labels: IntArray) -> float:
    """(within - between) / within: the mean correlation of two customers in one group
    against that of two customers in different groups (0 when there is no positive within)."""
    within, between = _within_between(correlation, labels)
    return (within - between) / within if within > 0 else 0.0


def _within_between(correlation: FloatArray, labels: IntArray) -> tuple[float, float]:
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None, :]
    if not same.any() or not different.any():
        return 0.0, 0.0
    return float(correlation[same].mean()), float(correlation[different].mean())


def _one_feeder(series: FloatArray, steps_per_day: int, groups: IntArray) -> bool:
    """Whether the groups found are no better than one: the raw steps (common moves kept) show
    no shared move (their mean within-group correlation is under three times the 1/sqrt(n)
    that unrelated series reach by chance) or no contrast between groups."""
    raw, _ = _correlations(series, steps_per_day, common=False)
    within, _ = _within_between(raw, groups)
    chance = 1.0 / np.sqrt(max(series.shape[1] - 1, 1))
    return within < 3.0 * chance or contrast(raw, groups) < ONE_FEEDER_CONTRAST


def _kmeans(points: FloatArray, k: int) -> IntArray:
    """Lloyd's k-means from a farthest-point start (the first centre is the point farthest
    from the mean), deterministic."""
    first = int(np.argmax(((points - points.mean(axis=0)) ** 2).sum(axis=1)))
    centres = [points[first]]
    distance = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        centres.append(points[int(np.argmax(distance))])
        distance = np.minimum(distance, ((points - centres[-1]) ** 2).sum(axis=1))
    centre = np.stack(centres)
    labels = np.zeros(points.shape[0], dtype=np.intp)
    for _ in range(_KMEANS_ROUNDS):
        squared = ((points[:, None, :] - centre[None, :, :]) ** 2).sum(axis=2)
        new = np.argmin(squared, axis=1).astype(np.intp)
        for group in range(k):
            members = new == group
            if members.any():
                centre[group] = points[members].mean(axis=0)
        if (new == labels).all() and _ > 0:
            break
        labels = new
    return labels


def _canonical(labels: IntArray) -> IntArray:
    """Renumber groups in order of first appearance."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    mapping = np.empty(order.size, dtype=np.intp)
    mapping[order] = np.arange(order.size)
    return mapping[np.searchsorted(np.unique(labels), labels)]


def _silhouettes(distance: FloatArray, labels: IntArray, k: int) -> FloatArray:
    """Each point's silhouette (Rousseeuw 1987) on a precomputed distance; NaN when k is 1."""
    points = labels.size
    if k < 2:
        return np.full(points, np.nan)
    own = np.zeros(points)
    nearest = np.full(points, np.inf)
    for group in range(k):
        members = labels == group
        size = int(members.sum())
        if size == 0:
            continue
        mean = distance[:, members].sum(axis=1)
        inside = labels == group
        own[inside] = mean[inside] / max(size - 1, 1)
        nearest[~inside] = np.minimum(nearest[~inside], mean[~inside] / size)
    result = (nearest - own) / np.maximum(np.maximum(nearest, own), 1e-12)
    singletons = np.bincount(labels, minlength=k)[labels] == 1
    result[singletons] = 0.0
    return np.asarray(result)
