"""Choosing the verifier's thresholds from scores, for a stated false-accept rate.

Pure NumPy, so the choice is tested on constructed score sets without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold and the rates it achieves on the scores it was chosen from."""

    threshold: float
    accept_rate: float  # share of positives at or over the threshold
    reject_rate: float  # share of negatives under it

    def as_dict(self) -> dict[str, float]:
        return {
            "threshold": round(self.threshold, 6),
            "accept_rate": round(self.accept_rate, 6),
            "reject_rate": round(self.reject_rate, 6),
        }


def threshold_for_false_accept(
    positives: np.ndarray, negatives: np.ndarray, false_accept_rate: float
) -> OperatingPoint:
    """The lowest threshold whose share of accepted negatives is at most ``false_accept_rate``.

    Accepting means ``score >= threshold``. The lowest such threshold accepts the most positives.
    """
    if not 0.0 <= false_accept_rate < 1.0:
        raise ValueError(f"false_accept_rate must be in [0, 1), got {false_accept_rate}")
    positives = np.asarray(positives, dtype=np.float64)
    negatives = np.sort(np.asarray(negatives, dtype=np.float64))
    if positives.size == 0 or negatives.size == 0:
        raise ValueError("calibration needs both positive and negative scores")
    allowed = int(np.floor(false_accept_rate * negatives.size))  # negatives we may accept
    return operating_point(positives, negatives, threshold_allowing(negatives, allowed))


def threshold_allowing(negatives: np.ndarray, allowed: int) -> float:
    """The lowest threshold at or over which at most ``allowed`` of ``negatives`` lie
    (``-inf`` when that many or fewer are given)."""
    negatives = np.sort(np.asarray(negatives, dtype=np.float64))
    if allowed >= negatives.size:
        return float("-inf")
    # Everything above the (allowed+1)-th highest negative may be accepted.
    return float(np.nextafter(negatives[negatives.size - allowed - 1], np.inf))


def operating_point(
    positives: np.ndarray, negatives: np.ndarray, threshold: float
) -> OperatingPoint:
    """The rates a given threshold achieves."""
    positives = np.asarray(positives, dtype=np.float64)
    negatives = np.asarray(negatives, dtype=np.float64)
    return OperatingPoint(
        threshold=float(threshold),
        accept_rate=float(np.mean(positives >= threshold)) if positives.size else float("nan"),
        reject_rate=float(np.mean(negatives < threshold)) if negatives.size else float("nan"),
    )
