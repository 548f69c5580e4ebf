"""Where a named missing stroke goes in a cell: its median, placed as the preprocessing places
the character.

Preprocessing crops a cell to its ink's box, squared about its centre; the student's ink is
the character without the missing stroke. So the medians of the strokes that *are* there,
their box squared the same way, are laid onto the ink's squared box, and the missing
stroke's median follows along. A cell whose ink cannot be found gets the whole glyph box
over the cell instead. Coordinates then go from the cleaned cell (guides' border cropped)
through the cell's quad to the scan, as ``scans.cells.resample_cells`` maps them.
"""

from __future__ import annotations

import numpy as np
from hanzi_grader.models.training.strokes import BOX_SIZE, Y_TOP, StrokeDataMissing
from PIL import ImageDraw

INK_LEVEL = 128  # a cleaned cell's pixel darker than this is ink


def _medians(char: str) -> list[np.ndarray] | None:
    """The character's medians in the unit box, y down (None without stroke data for it)."""
    from hanzi_grader.models.training.strokes import shared_stroke_data

    try:
        data = shared_stroke_data()
    except StrokeDataMissing:
        return None
    if not data.has(char):
        return None
    return [np.asarray(m, np.float64) / BOX_SIZE * [1, -1] + [0, Y_TOP / BOX_SIZE]
            for m in data.medians(char)]


def _square_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, side) of ``points``' bounding box made square about its centre."""
    low, high = points.min(axis=0), points.max(axis=0)
    return (low + high) / 2, max(float((high - low).max()), 1e-6)


def stroke_in_cell(char: str, index: int, pixels: np.ndarray) -> np.ndarray | None:
    """Stroke ``index`` of ``char`` as (n, 2) points (x, y) in the cleaned cell ``pixels``'
    coordinates, or None without stroke data for it."""
    medians = _medians(char)
    if medians is None or not 0 <= index < len(medians):
        return None
    others = [m for i, m in enumerate(medians) if i != index]
    ys, xs = np.nonzero(pixels < INK_LEVEL)
    if len(xs) and others:
        centre, side = _square_box(np.concatenate(others))
        ink_centre, ink_side = _square_box(np.stack([xs, ys], axis=1).astype(np.float64))
    else:  # no ink found: the glyph box over the whole cell
        centre, side = np.array([0.5, 0.5]), 1.0
        ink_centre, ink_side = np.array(pixels.shape[::-1], np.float64) / 2, float(len(pixels))
    return (medians[index] - centre) * (ink_side / side) + ink_centre


def cell_to_scan(points: np.ndarray, quad: np.ndarray, side: int, border: int) -> np.ndarray:
    """Points of a cleaned cell (``border`` cropped off a ``side``-pixel square) on the scan,
    bilinear between the quad's corners (top-left, top-right, bottom-right, bottom-left)."""
    u, v = ((points + border) / side).T
    tl, tr, br, bl = np.asarray(quad, np.float64)
    return ((1 - u) * (1 - v))[:, None] * tl + (u * (1 - v))[:, None] * tr + (
        (u * v)[:, None] * br + ((1 - u) * v)[:, None] * bl)


def draw_dashed(draw: ImageDraw.ImageDraw, points: np.ndarray, colour: tuple[int, int, int],
                width: int, dash: float) -> None:
    """A polyline through ``points``, ``dash`` pixels on and ``dash`` off along its length."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] <= 0:
        return
    for start in np.arange(0.0, arc[-1], 2 * dash):
        at = np.linspace(start, min(start + dash, arc[-1]), 6)
        piece = np.stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])], 1)
        draw.line([tuple(p) for p in piece], fill=colour, width=width, joint="curve")
