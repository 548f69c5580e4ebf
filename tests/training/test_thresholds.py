"""Calibration picks thresholds that achieve the stated rates on constructed score sets."""

import numpy as np
import pytest
from hanzi_grader.models.training.thresholds import (
    operating_point,
    threshold_allowing,
    threshold_for_false_accept,
)


def test_threshold_meets_the_stated_false_accept_rate():
    rng = np.random.default_rng(0)
    positives = rng.normal(0.8, 0.05, 2000)
    negatives = rng.normal(0.4, 0.1, 2000)

    point = threshold_for_false_accept(positives, negatives, false_accept_rate=0.05)

    accepted_negatives = np.mean(negatives >= point.threshold)
    assert accepted_negatives <= 0.05
    assert point.reject_rate == pytest.approx(1 - accepted_negatives)
    # The lowest such threshold: one step lower would accept one negative too many.
    assert np.mean(negatives >= np.nextafter(point.threshold, -np.inf)) > 0.05 - 1e-9
    assert point.accept_rate == pytest.approx(np.mean(positives >= point.threshold))
    assert point.accept_rate > 0.99


def test_separable_scores_give_perfect_rates():
    point = threshold_for_false_accept(np.array([0.9, 0.95]), np.array([0.1, 0.2, 0.3]), 0.0)
    assert point.threshold > 0.3
    assert (point.accept_rate, point.reject_rate) == (1.0, 1.0)


def test_operating_point_counts_ties_as_accepted():
    point = operating_point(np.array([0.5, 0.6]), np.array([0.5, 0.1]), 0.5)
    assert point.accept_rate == 1.0
    assert point.reject_rate == 0.5


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_rejects_impossible_rates(rate):
    with pytest.raises(ValueError, match="false_accept_rate"):
        threshold_for_false_accept(np.ones(3), np.zeros(3), rate)


def test_threshold_allowing_a_count_of_negatives():
    negatives = np.array([0.1, 0.5, 0.3, 0.9])
    assert threshold_allowing(negatives, 0) > 0.9
    assert 0.5 < threshold_allowing(negatives, 1) <= 0.9
    assert threshold_allowing(negatives, 4) == float("-inf")  # all may pass
