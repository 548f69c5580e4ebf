"""Finding the grid on a scan or a photo: the crossing points of its ruled lines.

1. **Coarse outline.** The grid's ruled lines are one connected structure, by far the widest
   thing on the page: the connected component of dark pixels with the largest bounding box.
   Straight lines fitted (RANSAC) to its top, bottom, left and right edges give four corners,
   whatever the rotation and perspective.
2. **Lines.** The quadrilateral is rectified. A row of the rectified image is a ruled line when
   even its 10 % least dark pixels are dark (a solid line is dark all along; dashed guides,
   diagonals and handwriting leave gaps). Missing lines are filled in and extra ones dropped
   so that the lines are evenly spaced.
3. **Precision.** Each line's centre is measured again on every half cell along it, mapped back
   to the scan, and a straight line fitted through those points; the crossing points of the
   fitted lines are the cell corners. This is exact under any perspective, whatever error the
   coarse corners had.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from hanzi_grader.scans.geometry import apply_homography, fit_homography, fit_line, intersect, warp
from hanzi_grader.scans.paper import Page
from scipy import ndimage

from hanzi_grader.errors import HanziError

COARSE_SIDE = 900  # the connected-component search runs on a copy about this size
MIN_CELL_PX = 16  # rectified pixels: closer lines are one line
LINE_QUANTILE = 0.1
LINE_RELATIVE_STRENGTH = 0.4  # a line is at least this share of the strongest line's darkness


class GridNotFound(HanziError):
    """No usable grid on the sheet (none at all, or lines that make no regular grid)."""


@dataclass(frozen=True)
class Grid:
    """A grid found on a scan: its cell corners in scan pixels, (rows + 1, columns + 1, 2)."""

    points: np.ndarray

    @property
    def rows(self) -> int:
        return self.points.shape[0] - 1

    @property
    def columns(self) -> int:
        return self.points.shape[1] - 1

    def quad(self, row: int, col: int) -> np.ndarray:
        """The corners of cell (row, col): top-left, top-right, bottom-right, bottom-left."""
        p = self.points
        return np.array([p[row, col], p[row, col + 1], p[row + 1, col + 1], p[row + 1, col]])

    @property
    def pitch(self) -> float:
        """The mean side of a cell, in scan pixels."""
        p = self.points
        across = np.hypot(*np.moveaxis(np.diff(p, axis=1), 2, 0)).mean()
        down = np.hypot(*np.moveaxis(np.diff(p, axis=0), 2, 0)).mean()
        return float((across + down) / 2)

    def describe(self) -> str:
        return f"{self.rows} rows x {self.columns} columns"


def find_grid(page: Page) -> Grid:
    """The grid on ``page``; GridNotFound says why there is none."""
    dark = page.darkness
    corners = coarse_corners(dark > dark_threshold(dark), name=page.name)
    to_scan, width, height, margin = _rectifier(corners)
    rectified = warp(dark, to_scan, (height + 2 * margin, width + 2 * margin))
    band = _band_radius(dark.shape)
    ys = _line_positions(rectified, axis=0, span=(margin, margin + width), band=band,
                         limits=(margin, margin + height), name=page.name,
                         what="horizontal")
    xs = _line_positions(rectified, axis=1, span=(margin, margin + height), band=band,
                         limits=(margin, margin + width), name=page.name,
                         what="vertical")
    points = _precise_corners(rectified, to_scan, ys, xs)
    _check_shape(points, page.name)
    return Grid(points=points)


def dark_threshold(dark: np.ndarray) -> float:
    """The darkness that separates ink and lines from paper, noise and JPEG ringing."""
    sample = dark[::3, ::3]
    median = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - median)))
    return float(np.clip(median + 6 * spread + 0.04, 0.1, 0.35))


def coarse_corners(binary: np.ndarray, *, name: str = "sheet") -> np.ndarray:
    """Four corners (tl, tr, br, bl) of the widest connected dark structure, in scan pixels."""
    factor = max(1, int(np.ceil(max(binary.shape) / COARSE_SIDE)))
    small = _shrink_any(binary, factor)
    small = ndimage.binary_dilation(small, iterations=1)
    labels, count = ndimage.label(small, structure=np.ones((3, 3), bool))
    if count == 0:
        raise GridNotFound(f"{name}: no grid found (the page has no dark lines at all)")
    boxes = ndimage.find_objects(labels)
    areas = np.array([(b[0].stop - b[0].start) * (b[1].stop - b[1].start) for b in boxes])
    best = _most_grid_like(labels, boxes, areas, min_hole=(MIN_CELL_PX / 2 / factor) ** 2)
    box = boxes[best]
    height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
    if min(height, width) * factor < 2 * MIN_CELL_PX or areas[best] < 0.01 * small.size:
        raise GridNotFound(f"{name}: no grid found (the largest ruled structure is only "
                           f"{width * factor}x{height * factor} pixels)")
    mask = labels[box] == best + 1
    edges = _edge_lines(mask)
    corners = np.array([intersect(edges[a], edges[b]) for a, b in
                        (("top", "left"), ("top", "right"), ("bottom", "right"),
                         ("bottom", "left"))])
    corners += np.array([box[1].start, box[0].start])
    # Block centres of the shrunken copy, in full-size pixels.
    corners = corners * factor + (factor - 1) / 2
    _check_quad(corners, binary.shape, name)
    return corners


def _most_grid_like(labels: np.ndarray, boxes: list, areas: np.ndarray, *,
                    min_hole: float) -> int:
    """The index of the component most like a grid: many enclosed cells over a wide area.

    Counting enclosed holes tells the grid from the page's own edge or a shadow's rim, which
    can be as wide but enclose nothing (or one hole: the whole page).
    """
    best, best_score = int(np.argmax(areas)), 0.0
    for index in np.argsort(-areas)[:6]:
        box = boxes[index]
        outside = labels[box] != index + 1
        holes, count = ndimage.label(outside)
        if count == 0:
            continue
        sizes = np.bincount(holes.ravel(), minlength=count + 1)[1:]
        border = np.unique(np.r_[holes[0], holes[-1], holes[:, 0], holes[:, -1]])
        enclosed = np.ones(count, bool)
        enclosed[border[border > 0] - 1] = False
        score = float(np.sum(enclosed & (sizes >= min_hole))) * float(areas[index])
        if score > best_score:
            best, best_score = int(index), score
    return best


def _shrink_any(binary: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return binary
    height, width = binary.shape
    padded = np.pad(binary, ((0, -height % factor), (0, -width % factor)))
    h, w = padded.shape
    return padded.reshape(h // factor, factor, w // factor, factor).any(axis=(1, 3))


def _edge_lines(mask: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lines through the outermost pixels of ``mask`` on each side (RANSAC: robust to the
    neighbouring sides' pixels and to strokes that poke out of the grid)."""
    height, width = mask.shape
    lines = {}
    columns = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    first_row = mask.argmax(axis=0)
    last_row = height - 1 - mask[::-1].argmax(axis=0)
    first_col = mask.argmax(axis=1)
    last_col = width - 1 - mask[:, ::-1].argmax(axis=1)
    lines["top"] = fit_line(np.c_[columns, first_row[columns]], tolerance=1.5)
    lines["bottom"] = fit_line(np.c_[columns, last_row[columns]], tolerance=1.5)
    lines["left"] = fit_line(np.c_[first_col[rows], rows], tolerance=1.5)
    lines["right"] = fit_line(np.c_[last_col[rows], rows], tolerance=1.5)
    return lines


def _check_quad(corners: np.ndarray, shape: tuple[int, int], name: str) -> None:
    if not np.all(np.isfinite(corners)):
        raise GridNotFound(f"{name}: no grid found (the outline has no corners)")
    sides = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
    if sides.min() < 2 * MIN_CELL_PX or sides.max() > 3 * max(shape):
        raise GridNotFound(f"{name}: no grid found (the outline's sides measure "
                           f"{', '.join(f'{s:.0f}' for s in sides)} pixels)")


def _rectifier(corners: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """A homography from a rectified frame (with a margin) to the scan, and the frame's size."""
    tl, tr, br, bl = corners
    width = round((np.hypot(*(tr - tl)) + np.hypot(*(br - bl))) / 2)
    height = round((np.hypot(*(bl - tl)) + np.hypot(*(br - tr))) / 2)
    margin = max(6, int(0.02 * max(width, height)))
    frame = np.array([[margin, margin], [margin + width, margin],
                      [margin + width, margin + height], [margin, margin + height]], float)
    return fit_homography(frame, corners), width, height, margin


def _band_radius(shape: tuple[int, int]) -> int:
    # The coarse corners can be off by about a shrink factor; the lines tilt by up to twice that.
    return 2 * max(1, int(np.ceil(max(shape) / COARSE_SIDE))) + 1


def _line_positions(rectified: np.ndarray, *, axis: int, span: tuple[int, int], band: int,
                    limits: tuple[int, int], name: str, what: str) -> np.ndarray:
    """Positions (rectified pixels) of the evenly spaced ruled lines along ``axis``."""
    image = rectified if axis == 0 else rectified.T
    thick = ndimage.maximum_filter1d(image, size=2 * band + 1, axis=0)
    strip = thick[:, span[0]: span[1]]
    k = int(LINE_QUANTILE * (strip.shape[1] - 1))
    score = np.partition(strip, k, axis=1)[:, k]
    # Most rows are paper (and handwriting, which leaves gaps): their score is the noise floor.
    # Its spread is read below the median only: on a small grid, lines and guides are so many
    # of the rows that they would widen it.
    median = float(np.median(score))
    spread = median - float(np.quantile(score, 0.16))
    candidates = _peaks(score, radius=MIN_CELL_PX // 2 + band,
                        floor=median + max(4 * spread, 0.04))
    slack = 2 * band + 3
    candidates = [p for p in candidates if limits[0] - slack <= p <= limits[1] + slack]
    if not candidates:
        raise GridNotFound(f"{name}: no grid found (no {what} ruled lines)")
    # Strength above the floor: on a noisy photo the floor itself is well above zero.
    strongest = max(score[p] for p in candidates) - median
    lines = sorted(p for p in candidates
                   if score[p] - median >= LINE_RELATIVE_STRENGTH * strongest)
    lines = _drop_alternate_weak(lines, score)
    return _even_spacing(np.array(lines, float), score, name=name, what=what)


def _peaks(score: np.ndarray, *, radius: int, floor: float) -> list[int]:
    """Greedy non-maximum suppression: the strongest positions at least ``radius`` apart."""
    order = np.argsort(-score, kind="stable")
    taken = np.zeros(len(score), bool)
    peaks = []
    for index in order:
        if score[index] < floor:
            break
        if taken[index]:
            continue
        # The centre of a plateau (a thick or blurred line), not its first pixel.
        low, high = index, index
        while low > 0 and score[low - 1] >= score[index] - 1e-6:
            low -= 1
        while high < len(score) - 1 and score[high + 1] >= score[index] - 1e-6:
            high += 1
        centre = (low + high) // 2
        peaks.append(centre)
        taken[max(0, centre - radius): centre + radius + 1] = True
        taken[low: high + 1] = True
    return peaks


def _drop_alternate_weak(lines: list[int], score: np.ndarray) -> list[int]:
    """Solid centre guides printed lighter than the cell borders: keep the borders only."""
    if len(lines) < 5 or len(lines) % 2 == 0:
        return lines
    even = np.array([score[p] for p in lines[0::2]])
    odd = np.array([score[p] for p in lines[1::2]])
    if odd.max() < 0.6 * even.min():
        return lines[0::2]
    return lines


def _even_spacing(lines: np.ndarray, score: np.ndarray, *, name: str, what: str) -> np.ndarray:
    if len(lines) < 2:
        raise GridNotFound(f"{name}: no grid found (only {len(lines)} {what} ruled line)")
    gaps = np.diff(lines)
    pitch = float(np.median(gaps))
    kept = [lines[0]]
    for position in lines[1:]:
        gap = position - kept[-1]
        if gap < 0.6 * pitch:  # a stray line inside a cell: keep the stronger of the two
            if score[int(position)] > score[int(kept[-1])] and len(kept) > 1:
                kept[-1] = position
            continue
        steps = round(gap / pitch)
        if steps >= 2 and abs(gap - steps * pitch) < 0.25 * pitch:
            kept += [kept[-1] + gap * i / steps for i in range(1, steps)]  # faded lines
        kept.append(position)
    kept_arr = np.array(kept)
    gaps = np.diff(kept_arr)
    pitch = float(np.median(gaps))
    if np.any(np.abs(gaps / pitch - 1) > 0.3):
        raise GridNotFound(
            f"{name}: no regular grid found (the {what} lines are unevenly spaced: gaps of "
            f"{', '.join(f'{g:.0f}' for g in gaps)} pixels)")
    return kept_arr


def _precise_corners(rectified: np.ndarray, to_scan: np.ndarray, ys: np.ndarray,
                     xs: np.ndarray) -> np.ndarray:
    """The crossing points, in scan pixels, of lines fitted to local centre measurements."""
    pitch_y = float(np.median(np.diff(ys)))
    pitch_x = float(np.median(np.diff(xs)))
    rows = [_fitted_line(rectified, to_scan, y, xs, pitch_y, axis=0) for y in ys]
    cols = [_fitted_line(rectified, to_scan, x, ys, pitch_x, axis=1) for x in xs]
    points = np.empty((len(ys), len(xs), 2))
    for i, row_line in enumerate(rows):
        for j, col_line in enumerate(cols):
            points[i, j] = intersect(row_line, col_line)
    return points


def _fitted_line(rectified: np.ndarray, to_scan: np.ndarray, position: float,
                 crossings: np.ndarray, pitch: float,
                 axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The line near ``position``, measured on each half cell between ``crossings``."""
    image = rectified if axis == 0 else rectified.T
    reach = int(max(3, min(0.22 * pitch, 12)))
    centre = round(position)
    low, high = max(0, centre - reach), min(image.shape[0], centre + reach + 1)
    points = []
    for a, b in itertools.pairwise(crossings):
        for s0, s1 in ((a, (a + b) / 2), ((a + b) / 2, b)):
            inset = 0.2 * (s1 - s0)
            start, stop = round(s0 + inset), round(s1 - inset)
            if stop <= start:
                continue
            profile = image[low:high, start:stop].mean(axis=1)
            offset = _centre_of_peak(profile)
            if offset is not None:
                points.append(((start + stop - 1) / 2, low + offset))
    if len(points) < 2:  # nothing measurable: the rectified position itself
        ends = crossings[[0, -1]]
        points = [(ends[0], position), (ends[1], position)]
    local = np.array(points)
    if axis == 1:
        local = local[:, ::-1]  # (along, across) -> (x, y)
    scan = apply_homography(to_scan, local)
    return fit_line(scan, tolerance=1.0)


def _centre_of_peak(profile: np.ndarray) -> float | None:
    """The centroid of the profile's highest bump above half its height, or None if flat."""
    base, top = float(profile.min()), float(profile.max())
    if top - base < 0.02:
        return None
    peak = int(np.argmax(profile))
    half = (top + base) / 2
    low, high = peak, peak
    while low > 0 and profile[low - 1] > half:
        low -= 1
    while high < len(profile) - 1 and profile[high + 1] > half:
        high += 1
    weights = profile[low: high + 1] - base
    return float((np.arange(low, high + 1) * weights).sum() / weights.sum())


def _check_shape(points: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(points)):
        raise GridNotFound(f"{name}: no grid found (its lines do not cross)")
    for axis in (0, 1):
        steps = np.hypot(*np.moveaxis(np.diff(points, axis=axis), 2, 0))
        if steps.min() < 0.5 * np.median(steps):
            raise GridNotFound(f"{name}: no regular grid found (cells of very different sizes)")
