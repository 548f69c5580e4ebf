"""Plane geometry for sheets: homographies, straight-line fits, warps and polygon overlap.

Coordinates are array indices as floats: pixel (row i, column j) has its centre at x = j,
y = i. Points are (x, y) rows of a NumPy array.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def fit_homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking ``source`` points to ``target`` points (least squares, DLT).

    Needs at least 4 point pairs; the points are normalised first (Hartley), which keeps the
    fit well conditioned for pixel coordinates in the thousands.
    """
    source, target = np.asarray(source, float), np.asarray(target, float)
    if len(source) < 4 or len(source) != len(target):
        raise ValueError(f"need 4 or more point pairs, got {len(source)} and {len(target)}")
    s_norm, t_norm = _normaliser(source), _normaliser(target)
    s = apply_homography(s_norm, source)
    t = apply_homography(t_norm, target)
    rows = []
    for (x, y), (u, v) in zip(s, t, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    h = np.linalg.inv(t_norm) @ h @ s_norm
    return h / h[2, 2]


def _normaliser(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean() or 1.0
    scale = np.sqrt(2) / spread
    return np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (n, 2) mapped through ``h``."""
    points = np.asarray(points, float)
    flat = points.reshape(-1, 2)
    mapped = np.c_[flat, np.ones(len(flat))] @ h.T
    return (mapped[:, :2] / mapped[:, 2:3]).reshape(points.shape)


def warp(image: np.ndarray, out_to_in: np.ndarray, shape: tuple[int, int],
         fill: float = 0.0) -> np.ndarray:
    """``image`` resampled (bilinear) on an output of ``shape`` (rows, columns).

    ``out_to_in`` maps output coordinates to input coordinates. Pillow does the work (fast,
    and it only computes the output pixels); its own convention puts pixel centres at +0.5,
    hence the shifts around the matrix.
    """
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    h = shift @ out_to_in @ unshift
    h = h / h[2, 2]
    coefficients = tuple(h.ravel()[:8])
    size = (int(shape[1]), int(shape[0]))
    if image.ndim == 3:
        channels = [warp(image[..., k], out_to_in, shape, fill) for k in range(image.shape[2])]
        return np.stack(channels, axis=2)
    if image.dtype == np.uint8:
        source = Image.fromarray(image, "L")
        out = source.transform(size, Image.Transform.PERSPECTIVE, coefficients,
                               resample=Image.Resampling.BILINEAR, fillcolor=int(fill))
        return np.asarray(out)
    source = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), "F")
    out = source.transform(size, Image.Transform.PERSPECTIVE, coefficients,
                           resample=Image.Resampling.BILINEAR, fillcolor=float(fill))
    return np.asarray(out)


def fit_line(points: np.ndarray, *, tolerance: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """A straight line through ``points`` as (a point on it, its unit direction).

    RANSAC picks the line most points agree with (within ``tolerance`` pixels), so that a
    stroke lying along a grid line, or the end of a neighbouring line, cannot pull it; total
    least squares on those points then gives the line.
    """
    points = np.asarray(points, float)
    if len(points) < 2:
        raise ValueError(f"need 2 or more points for a line, got {len(points)}")
    rng = np.random.default_rng(0)  # deterministic: the same scan always gives the same grid
    pairs = rng.integers(0, len(points), (min(200, 4 * len(points)), 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    inliers = np.ones(len(points), bool)
    if len(pairs):
        a, b = points[pairs[:, 0]], points[pairs[:, 1]]
        direction = b - a
        length = np.maximum(np.hypot(direction[:, 0], direction[:, 1]), 1e-9)
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / length[:, None]
        offsets = (normal * a).sum(axis=1)
        distance = np.abs(points @ normal.T - offsets[None, :])  # (points, candidates)
        votes = (distance <= tolerance).sum(axis=0)
        inliers = distance[:, int(np.argmax(votes))] <= tolerance
        if inliers.sum() < 2:
            inliers = np.ones(len(points), bool)
    centre, direction = _total_least_squares(points[inliers])
    normal = np.array([-direction[1], direction[0]])
    refined = np.abs((points - centre) @ normal) <= tolerance
    if refined.sum() >= 2:
        centre, direction = _total_least_squares(points[refined])
    return centre, direction


def _total_least_squares(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    return centre, vt[0]


def intersect(line_a: tuple[np.ndarray, np.ndarray],
              line_b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The crossing point of two (point, direction) lines."""
    (p, d), (q, e) = line_a, line_b
    matrix = np.array([[d[0], -e[0]], [d[1], -e[1]]])
    t, _ = np.linalg.solve(matrix, q - p)
    return p + t * d


def quad_iou(a: np.ndarray, b: np.ndarray, scale: int = 4) -> float:
    """Intersection over union of two quadrilaterals (4 x 2 corners), by rasterising them."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    low = np.floor(np.minimum(a.min(axis=0), b.min(axis=0))) - 1
    high = np.ceil(np.maximum(a.max(axis=0), b.max(axis=0))) + 1
    size = tuple(int(v) for v in (high - low) * scale)
    masks = []
    for quad in (a, b):
        image = Image.new("1", size, 0)
        ImageDraw.Draw(image).polygon([tuple(p) for p in (quad - low) * scale], fill=1)
        masks.append(np.asarray(image, bool))
    union = np.logical_or(*masks).sum()
    return float(np.logical_and(*masks).sum() / union) if union else 0.0
