"""The six false-data injections of Jokar et al. (2016) and the ranking figures."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.analytics import AnalysisInputError
from wattguard.analytics.injection import average_precision_at, detection_at, inject, roc_auc

DAY = np.linspace(1.0, 2.0, 48)[None, :].repeat(3, axis=0)


def test_h1_scales_the_day_by_one_factor() -> None:
    out = inject(DAY, 1, np.random.default_rng(0))
    ratio = out / DAY
    assert np.allclose(ratio, ratio[:, :1]) and ((ratio > 0.1) & (ratio < 0.8)).all()


def test_h2_cuts_a_window_of_at_least_four_hours() -> None:
    out = inject(DAY, 2, np.random.default_rng(0))
    zeros = (out == 0).sum(axis=1)
    assert (zeros >= 8).all()
    assert np.array_equal(out[out != 0], DAY[out != 0])


def test_h3_h4_h5_h6_by_their_definitions() -> None:
    rng = np.random.default_rng(0)
    h3 = inject(DAY, 3, rng) / DAY
    assert ((h3 > 0.1) & (h3 < 0.8)).all() and np.unique(h3).size > 100
    mean = DAY.mean(axis=1, keepdims=True)
    h4 = inject(DAY, 4, rng) / mean
    assert ((h4 > 0.1) & (h4 < 0.8)).all()
    assert np.allclose(inject(DAY, 5, rng), mean)
    assert np.array_equal(inject(DAY, 6, rng), DAY[:, ::-1])
    with pytest.raises(AnalysisInputError):
        inject(DAY, 7, rng)


def test_ranking_figures_on_a_known_ranking() -> None:
    labels = np.array([1, 0, 1, 0, 0, 0])
    scores = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    assert roc_auc(labels, scores) == pytest.approx(7 / 8)
    # precision at the hits: 1/1 and 2/3
    assert average_precision_at(labels, scores, 100) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision_at(labels, scores, 1) == 1.0
    assert detection_at(labels, scores, 0.0) == 0.5
    assert detection_at(labels, scores, 0.25) == 1.0
    with pytest.raises(AnalysisInputError):
        roc_auc([0, 0], [1.0, 2.0])
