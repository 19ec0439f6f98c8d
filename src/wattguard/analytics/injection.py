"""False-data injection for evaluating theft detection: the six attack functions h1..h6 of
Jokar, Arianpoo and Leung, "Electricity Theft Detection in AMI Using Customers' Consumption
Patterns", IEEE Trans. Smart Grid 7(1), 2016, and the ranking figures reported with them.

Each attack rewrites one day's curve x_1..x_N (what the meter reports instead of the truth):

* h1: x_t * alpha, one alpha ~ U(0.1, 0.8) for the day;
* h2: x_t * beta_t, beta_t = 0 in a random window [t_s, t_f) of at least 4 hours, 1 elsewhere;
* h3: x_t * gamma_t, a fresh gamma_t ~ U(0.1, 0.8) for every interval;
* h4: mean(x) * gamma_t, gamma_t ~ U(0.1, 0.8) for every interval;
* h5: mean(x): the day's energy spread flat;
* h6: x_{N+1-t}: the day reversed (the same energy, moved to other tariff periods).

Randomness is handed in as a numpy Generator, so an evaluation is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score, roc_curve

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_curves

__all__ = ["ATTACKS", "average_precision_at", "detection_at", "inject", "roc_auc"]

#: The attack functions by number (1..6), as the paper names them.
ATTACKS = (1, 2, 3, 4, 5, 6)


def inject(days: npt.ArrayLike, attack: int, rng: np.random.Generator) -> FloatArray:
    """Apply attack ``attack`` (1..6) to each row of ``days`` (rows, steps of one day)."""
    x = as_curves(days).astype(np.float64, copy=True)
    rows, steps = x.shape
    mean = np.nanmean(x, axis=1, keepdims=True) if steps else x
    if attack == 1:
        return x * rng.uniform(0.1, 0.8, (rows, 1))
    if attack == 2:
        shortest = max(1, steps // 6)  # 4 hours of the day
        length = rng.integers(shortest, steps + 1, rows)
        start = (rng.random(rows) * (steps - length + 1)).astype(np.intp)
        t = np.arange(steps)[None, :]
        cut = (t >= start[:, None]) & (t < (start + length)[:, None])
        return np.where(cut, 0.0, x)
    if attack == 3:
        return x * rng.uniform(0.1, 0.8, x.shape)
    if attack == 4:
        return mean * rng.uniform(0.1, 0.8, x.shape)
    if attack == 5:
        return np.repeat(mean, steps, axis=1)
    if attack == 6:
        return x[:, ::-1].copy()
    raise AnalysisInputError(f"attack functions are h1..h6, not h{attack}")


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` (higher = more suspicious) for 0/1 ``labels``."""
    y, s = _pairs(labels, scores)
    return float(roc_auc_score(y, s))


def detection_at(labels: npt.ArrayLike, scores: npt.ArrayLike, false_positive: float) -> float:
    """Detection rate (true-positive rate) at a false-positive rate of ``false_positive``,
    read off the ROC curve (the last point that does not exceed it)."""
    y, s = _pairs(labels, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return float(tpr[np.searchsorted(fpr, false_positive, side="right") - 1])


def average_precision_at(labels: npt.ArrayLike, scores: npt.ArrayLike, n: int) -> float:
    """MAP@n as the SGCC theft papers report it: the mean of precision@k over the ranks k <= n
    that hold a positive, in the ranking by ``scores``."""
    y, s = _pairs(labels, scores)
    order = np.argsort(-s, kind="stable")[:n]
    hits = y[order].astype(np.float64)
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float((precision * hits).sum() / hits.sum())


def _pairs(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[npt.NDArray[np.int_], FloatArray]:
    y = np.asarray(labels).astype(np.int_)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise AnalysisInputError("one label and one score per item")
    keep = ~np.isnan(s)
    if len(set(y[keep].tolist())) != 2:
        raise AnalysisInputError("labels need both classes (0 and 1) among the scored items")
    return y[keep], s[keep]
