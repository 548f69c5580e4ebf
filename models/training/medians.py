"""A character's stroke medians made ready to write: resampled centre lines and their components.

The stroke data gives each stroke's median (its centre line) as a few points in a 1024-unit
box, y up. Distorting strokes the way a writer does is vectorised, so every stroke is resampled
to ``POINTS_PER_STROKE`` points evenly spaced along its length (unit box, y down), and the
strokes are grouped into components (the radical when it stands apart, the rest split where a
gap separates it) that later move and resize as units. ``prepared_character`` caches the
result per character and process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from hanzi_grader.models.training.strokes import (
    BOX_SIZE,
    Y_TOP,
    StrokeData,
    shared_stroke_data,
)

POINTS_PER_STROKE = 16


@dataclass(frozen=True)
class PreparedCharacter:
    """A character's medians resampled for vectorised distortion."""

    points: np.ndarray  # (strokes, POINTS_PER_STROKE, 2) float64, unit box, y down
    components: np.ndarray  # (strokes,) component label per stroke
    n_components: int = field(default=1)

    @property
    def n_strokes(self) -> int:
        return int(self.points.shape[0])


def resample_polyline(polyline: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along ``polyline``."""
    if len(polyline) == 1:
        return np.repeat(polyline, n, axis=0)
    steps = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] == 0:
        return np.repeat(polyline[:1], n, axis=0)
    targets = np.linspace(0.0, arc[-1], n)
    return np.stack(
        [np.interp(targets, arc, polyline[:, 0]), np.interp(targets, arc, polyline[:, 1])], axis=1
    )


def _group_box(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])


def _entangled(box_a: np.ndarray, box_b: np.ndarray) -> bool:
    """True when two groups' boxes overlap by more than 30% of the smaller one.

    Boxes are widened to at least 0.05 so that a straight stroke has an area.
    """
    def widen(box: np.ndarray) -> np.ndarray:
        centre, half = (box[:2] + box[2:]) / 2, np.maximum((box[2:] - box[:2]) / 2, 0.025)
        return np.concatenate([centre - half, centre + half])

    a, b = widen(box_a), widen(box_b)
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    smaller = min((a[2:] - a[:2]).prod(), (b[2:] - b[:2]).prod())
    return bool(inter > 0.3 * smaller)


def _split_by_gap(boxes: np.ndarray, members: np.ndarray) -> np.ndarray | None:
    """Split strokes into two separate groups (left/right or top/bottom), if the character
    has them: the cut along x or y where the groups' boxes overlap least."""
    best: tuple[float, np.ndarray] | None = None
    for axis in (0, 1):
        lo, hi = boxes[members, axis], boxes[members, axis + 2]
        order = np.argsort((lo + hi) / 2)
        for cut in range(2, len(order) - 1):  # a lone stroke is no component
            first, second = order[:cut], order[cut:]
            overlap = hi[first].max() - lo[second].min()
            if best is None or overlap < best[0]:
                mask = np.zeros(len(members), dtype=bool)
                mask[second] = True
                best = (overlap, mask)
    if best is None or best[0] > 0.03:
        return None
    mask = best[1]
    if _entangled(_group_box(boxes[members[mask]]), _group_box(boxes[members[~mask]])):
        return None
    return mask


def _components(points: np.ndarray, radical: Sequence[int]) -> np.ndarray:
    """Component label per stroke: the radical when it stands apart, and the rest split
    where a gap separates it. Components move and resize as units when written."""
    n = len(points)
    labels = np.zeros(n, dtype=np.int64)
    boxes = np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)
    is_radical = np.zeros(n, dtype=bool)
    is_radical[list(radical)] = True
    if 0 < is_radical.sum() < n and not _entangled(
        _group_box(boxes[is_radical]), _group_box(boxes[~is_radical])
    ):
        labels[~is_radical] = 1
    rest = np.flatnonzero(labels == labels.max())
    if len(rest) >= 2:
        second = _split_by_gap(boxes, rest)
        if second is not None:
            labels[rest[second]] = labels.max() + 1
    return labels


def prepare_medians(
    medians: Sequence[np.ndarray], radical: Sequence[int] = ()
) -> PreparedCharacter:
    """Resample package medians (1024 box, y up) into a ``PreparedCharacter`` (unit box, y down)."""
    strokes = []
    for median in medians:
        unit = np.asarray(median, dtype=np.float64) / BOX_SIZE
        unit[:, 1] = Y_TOP / BOX_SIZE - unit[:, 1]
        strokes.append(resample_polyline(unit, POINTS_PER_STROKE))
    points = np.stack(strokes)
    labels = _components(points, radical)
    return PreparedCharacter(points, labels, int(labels.max()) + 1)


@lru_cache(maxsize=12000)
def prepared_character(char: str) -> PreparedCharacter:
    """The prepared medians of ``char`` from the shared stroke data (cached per process)."""
    data: StrokeData = shared_stroke_data()
    return prepare_medians(data.medians(char), data.radical_strokes(char))
