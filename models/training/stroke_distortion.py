"""Strokes distorted as a writer distorts them: each stroke, each component, the whole character.

``distort_strokes`` takes a prepared character's centre lines and one ``Writer``'s knobs and
returns the points the pen follows: strokes shortened or run on, corners rounded, bowed and
wobbled, each stroke turned, scaled and shifted, the components moved and resized, the whole
character slanted, rotated, squashed and elastically warped. It works on a few hundred numbers
(no pixels), vectorised over strokes, and draws its random numbers in two calls whose sizes
do not depend on which strokes are later left out, so a seed gives the same character with or
without them. ``smooth_along`` is also how other pen paths (Unknown scribbles) get their
gentle curves.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from hanzi_grader.models.training.handwriting_style import Writer
from hanzi_grader.models.training.medians import PreparedCharacter


@lru_cache(maxsize=16)
def _unit(k: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, k)[None, :]


def _change_lengths(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Re-sample each stroke over [-start, 1+end] of its length (linear extrapolation)."""
    n_strokes, k = points.shape[:2]
    t = (-start[:, None] + (1.0 + start[:, None] + end[:, None]) * _unit(k)) * (k - 1)
    i0 = np.clip(t.astype(np.int64), 0, k - 2)  # t >= 0 truncates like floor; < 0 clips to 0
    frac = (t - i0)[..., None]
    flat = points.reshape(-1, 2)
    index = (i0 + (np.arange(n_strokes) * k)[:, None]).ravel()
    before = flat[index].reshape(n_strokes, k, 2)
    after = flat[index + 1].reshape(n_strokes, k, 2)
    return before + (after - before) * frac


@lru_cache(maxsize=16)
def _smoothing(k: int, passes: int) -> np.ndarray:
    """``passes`` rounds of [1, 2, 1]/4 smoothing along k points, ends kept, as one matrix."""
    one = np.eye(k)
    for i in range(1, k - 1):
        one[i, i - 1 : i + 2] = (0.25, 0.5, 0.25)
    return np.linalg.matrix_power(one, passes)


def smooth_along(values: np.ndarray, passes: int) -> np.ndarray:
    """Smooth (strokes, k, 2) values along each stroke: turns noise into gentle curves."""
    return _smoothing(values.shape[1], passes) @ values  # broadcast over strokes


@lru_cache(maxsize=16)
def _arch(k: int) -> np.ndarray:
    return np.sin(np.linspace(0, np.pi, k))


def distort_strokes(
    prepared: PreparedCharacter,
    rng: np.random.Generator,
    writer: Writer,
    outlines: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The character's stroke points after the writer's stroke, component and global changes.

    ``outlines`` (strokes, m, 2), if given, are moved with their strokes (the per-stroke,
    component and whole-character changes; bending and length changes apply to centre lines
    only). Returns (points, outlines). All random numbers come from two draws (speed).
    """
    pts = prepared.points
    n = prepared.n_strokes
    k = pts.shape[1]
    m = prepared.n_components
    labels = prepared.components
    uniform = rng.random(4 * n + 12)
    normal = rng.standard_normal(n * (2 * k + 5) + 4 * m)
    # Stroke length: writers shorten strokes in a hurry and overshoot ends; now and then a
    # stroke's end runs on (a long final sweep, a tail).
    lo, hi = writer.length_change
    change = lo + (hi - lo) * uniform[: 2 * n]
    flourish = uniform[2 * n : 3 * n] < writer.flourish_probability
    f_lo, f_hi = writer.flourish_length
    change[n:] += flourish * (f_lo + (f_hi - f_lo) * uniform[3 * n : 4 * n])
    pts = _change_lengths(pts, change[:n], change[n:])
    # A fast pen rounds a stroke's corners (横折 becomes a curve); the ends stay put.
    if writer.corner_rounding >= 1:
        pts = smooth_along(pts, int(writer.corner_rounding))
    # Bend: a bow perpendicular to the chord, strongest mid-stroke.
    chord = pts[:, -1] - pts[:, 0]
    bow = (writer.bend * np.clip(normal[:n], -2, 2))[:, None, None] * _arch(k)[None, :, None]
    pts = pts + bow * np.stack([-chord[:, 1], chord[:, 0]], axis=1)[:, None, :]
    # Wobble: smoothed per-point noise.
    wobble = normal[n : n + 2 * n * k].reshape(n, k, 2) * writer.wobble
    pts = pts + smooth_along(wobble, 3)
    # Per-stroke rotation, scale and shift about the stroke's centre: one 2x2 matrix each.
    at = n + 2 * n * k
    angle = np.radians(writer.stroke_rotation * normal[at : at + n])
    scale = np.exp(writer.stroke_scale * normal[at + n : at + 2 * n])
    shift = (writer.stroke_shift * normal[at + 2 * n : at + 4 * n]).reshape(n, 1, 2)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    per_stroke = np.stack([np.stack([cos, -sin], 1), np.stack([sin, cos], 1)], 1)  # (n,2,2)
    centre = pts.mean(axis=1, keepdims=True)
    shapes = [pts] if outlines is None else [pts, outlines]
    turn = per_stroke.transpose(0, 2, 1)
    shapes = [centre + (a - centre) @ turn + shift for a in shapes]
    # Components (radical and the rest) move and resize as units.
    at += 4 * n
    comp = normal[at : at + 4 * m].reshape(m, 4)
    comp_shift = (writer.component_shift * comp[:, :2])[labels][:, None]
    comp_scale = np.exp(writer.component_scale * comp[:, 2:])[labels][:, None]
    pts = shapes[0]
    if m > 1:
        sums = np.stack([np.bincount(labels, pts[..., d].sum(axis=1), m) for d in (0, 1)], 1)
        c_centre = (sums / (np.bincount(labels, minlength=m)[:, None] * k))[labels][:, None, :]
    else:
        c_centre = pts.reshape(-1, 2).mean(axis=0)
    shapes = [c_centre + (a - c_centre) * comp_scale + comp_shift for a in shapes]
    # The whole character: slant, rotation, aspect, then a smooth elastic warp.
    centre = shapes[0].reshape(-1, 2).mean(axis=0)
    angle = math.radians(writer.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    stretch = np.diag([math.sqrt(writer.aspect), 1.0 / math.sqrt(writer.aspect)])
    # x' = x - slant * y, y' = y - rise * x (y points down), then rotation, then aspect.
    shear = np.array([[1.0, -writer.slant], [-writer.rise, 1.0]])
    matrix = stretch @ np.array([[cos, -sin], [sin, cos]]) @ shear
    u = uniform[4 * n :]
    freq = (0.8 + 1.7 * u[:4].reshape(2, 2)) * np.where(u[4:8].reshape(2, 2) < 0.5, -1, 1)
    phase = 2 * np.pi * u[8:10]
    amp = writer.elastic * (0.5 + 0.5 * u[10:12])

    def whole(a: np.ndarray) -> np.ndarray:
        rel = (a - centre) @ matrix.T
        wave = np.sin(2 * np.pi * (rel @ freq.T) + phase)
        return rel + amp * wave[..., ::-1] + 0.5

    placed = [whole(a) for a in shapes]
    return placed[0], (placed[1] if outlines is not None else None)

