"""Load-profile clustering: each meter's typical day, grouped by shape, each group named.

Theory of operation. A meter's typical day is the mean of each interval of the day over the
days seen (:class:`ProfileAccumulator` keeps the sums, so a new day adds a day). Its shape is
that day averaged to hours and divided by its mean absolute value: the size of a customer
does not matter, the sign does (a PV customer's noon export stays negative). The shapes are
clustered with k-means (scikit-learn, k-means++ starts); when ``k`` is not given it is the k
from 2 to 8 with the highest silhouette score on a seeded sample of at most 2,000 meters (the
silhouette compares each meter's distance to its own cluster with the nearest other one,
a criterion that needs no labels). Each cluster is named by what its centre looks like
(:func:`name_shape`): PV export, night EV charging, flat commercial, evening peak, morning
peak, flat, other.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_curves, as_days

__all__ = [
    "ClusterResult",
    "ProfileAccumulator",
    "cluster_profiles",
    "cluster_shapes",
    "name_shape",
    "shapes",
]

#: Candidate numbers of clusters when none is given, and the silhouette sample size.
K_RANGE = range(2, 9)
_SAMPLE = 2000


@dataclass
class ProfileAccumulator:
    """Each meter's sums by interval of the day, one day at a time (missing ones left out)."""

    meters: int
    steps_per_day: int
    sums: FloatArray = field(init=False, repr=False)
    counts: npt.NDArray[np.intp] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros((self.meters, self.steps_per_day))
        self.counts = np.zeros((self.meters, self.steps_per_day), dtype=np.intp)

    def add_days(self, curves: npt.ArrayLike) -> None:
        """Take one or more whole days: (meters, days x steps_per_day)."""
        days = as_days(curves, self.steps_per_day)
        if days.shape[0] != self.meters:
            raise AnalysisInputError(f"the accumulator holds {self.meters} meters")
        self.sums += np.nansum(days, axis=1, dtype=np.float64)
        self.counts += (~np.isnan(days)).sum(axis=1)

    def typical(self) -> FloatArray:
        """(meters, steps_per_day) mean day; NaN for an interval never seen."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / self.counts, np.nan)


def shapes(typical: npt.ArrayLike) -> FloatArray:
    """Typical days as shapes: averaged to 24 hours (when the day divides into hours) and
    divided by the mean absolute value; a missing interval takes the meter's mean; an empty
    or all-zero day is NaN."""
    days = as_curves(typical)
    steps = days.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a meter without data: NaN
        if steps % 24 == 0 and steps > 24:
            days = np.nanmean(days.reshape(days.shape[0], 24, steps // 24), axis=2)
        mean = np.nanmean(days, axis=1, keepdims=True)
        filled = np.where(np.isnan(days), mean, days)
        size = np.mean(np.abs(filled), axis=1, keepdims=True)
        return np.where(size > 0, filled / size, np.nan)


def name_shape(centre: npt.ArrayLike) -> str:
    """What a shape (24 hourly values, mean absolute value 1) looks like, in a utility's words."""
    c = np.asarray(centre, dtype=np.float64)
    hours = (np.arange(c.size) + 0.5) * 24.0 / c.size
    positive = np.clip(c, 0.0, None)
    total = max(float(positive.sum()), 1e-12)
    noon = (hours >= 10) & (hours < 15)
    night = (hours >= 22) | (hours < 6)
    day = (hours >= 8) & (hours < 18)
    peak_hour = float(hours[int(np.argmax(c))])
    peak_ratio = float(c.max() / max(float(np.mean(np.abs(c))), 1e-12))
    if c[noon].min() < -0.3 * np.abs(c).max():
        return "PV export"
    if positive[night].sum() / total > 0.5 and (peak_hour >= 21 or peak_hour < 5):
        return "night EV charging"
    if positive[day].sum() / total > 0.6 and peak_ratio < 2.2:
        return "flat commercial"
    if 16 <= peak_hour < 23:
        return "evening peak"
    if 5 <= peak_hour < 10:
        return "morning peak"
    return "flat" if peak_ratio < 1.3 else "other"


@dataclass(frozen=True)
class ClusterResult:
    """A clustering of meters: one label per meter (-1 for a meter without data), the
    centres (k, 24) as shapes, each cluster's name, and the silhouette that chose k."""

    labels: npt.NDArray[np.intp]
    centres: FloatArray
    names: tuple[str, ...]
    silhouette: float


def cluster_shapes(
    features: npt.ArrayLike, k: int | None = None, *, seed: int = 0
) -> ClusterResult:
    """Cluster shapes (one row per meter, as :func:`shapes` makes them)."""
    x = as_curves(features)
    present = ~np.isnan(x).any(axis=1)
    rows = x[present]
    if rows.shape[0] < 2:
        raise AnalysisInputError("clustering needs at least two meters with data")
    rng = np.random.default_rng(seed)
    sample = rows[rng.permutation(rows.shape[0])[:_SAMPLE]]
    candidates = [k] if k is not None else [c for c in K_RANGE if c < sample.shape[0]]
    best: tuple[float, KMeans] | None = None
    for count in candidates:
        model = KMeans(n_clusters=count, n_init=4, random_state=seed).fit(sample)
        score = (
            float(silhouette_score(sample, model.labels_))
            if 1 < len(set(model.labels_.tolist())) < sample.shape[0]
            else -1.0
        )
        if best is None or score > best[0]:
            best = (score, model)
    assert best is not None
    score, model = best
    if sample.shape[0] < rows.shape[0]:  # refit on everyone from the sample's centres
        model = KMeans(n_clusters=model.n_clusters, init=model.cluster_centers_, n_init=1)
        model.fit(rows)
    labels = np.full(x.shape[0], -1, dtype=np.intp)
    labels[present] = model.predict(rows)
    centres = np.asarray(model.cluster_centers_)
    names = _unique([name_shape(c) for c in centres])
    return ClusterResult(labels, centres, names, score)


def _unique(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return tuple(out)


def cluster_profiles(
    curves: npt.ArrayLike, steps_per_day: int, k: int | None = None, *, seed: int = 0
) -> npt.NDArray[np.intp]:
    """One cluster label per meter from its curves, (meters, steps) of energy per interval;
    ``k`` clusters, or the silhouette's choice from 2 to 8. -1 for a meter without data."""
    accumulator = ProfileAccumulator(as_curves(curves).shape[0], steps_per_day)
    accumulator.add_days(curves)
    return cluster_shapes(shapes(accumulator.typical()), k, seed=seed).labels
