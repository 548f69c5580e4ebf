"""From a found grid to clean cell images: ruled lines taken out, blank cells told apart.

Every cell is resampled to a square of side S (its borders at 0 and S). The grid's guides are
found once per sheet on the average cell, where handwriting blurs away and the printed lines
stay sharp: a centre cross (田字格), diagonals too (米字格), or none (plain squares).

Lines come out without eating the strokes that cross them: across a guide, each pixel is
replaced by the straight blend of the pixels just outside the band on either side. A stroke
that crosses the guide is dark on both sides and stays; the guide, with paper on both sides,
goes. Ink clearly darker than the guide is kept as it is. The borders are cropped off.

On a coloured grid (red or green 田字格) the cells are read in the colour channel where the
grid is brightest, in which printed lines almost vanish and pencil or pen ink does not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from hanzi_grader.scans.grid import Grid
from hanzi_grader.scans.paper import Page
from scipy import ndimage

MIN_SIDE, MAX_SIDE = 48, 128  # cell images are resampled to this range of sides
GUIDE_MIN_CONTRAST = 0.02  # darkness a guide adds to the average cell, at the least
GUIDE_QUANTILE = 0.25  # of the cells' profiles: what (nearly) every cell has is printed
INK_MARGIN_OVER_GUIDE = 0.25  # darker than the guide by this much: ink, never removed
# A cell is blank when its ink covers less than this share of it and no stroke is longer than
# MIN_STROKE of its side.
BLANK_INK_SHARE = 0.003
MIN_STROKE = 0.16
# A written cell whose ink is fainter than this over its paper (darkness) is stretched to it, by
# at most MAX_INK_GAIN: faint pencil under blur can fall below the contrast floor that
# preprocessing keeps against noise in whole images, though the cell was judged written on a
# smoothed copy, where noise has no say.
FAINT_INK_TARGET = 0.5
MAX_INK_GAIN = 8.0


@dataclass
class CellImage:
    """One cell, cleaned: ink dark on white paper (uint8), cropped inside its borders."""

    row: int
    col: int
    pixels: np.ndarray
    ink_share: float  # share of the cell's pixels that are ink
    longest_stroke: float  # longest ink component, as a share of the cell's side
    blank: bool


@dataclass(frozen=True)
class Guides:
    """The printed lines inside each cell, as found on the average cell."""

    style: str  # tian, mi or square
    centre: tuple[float, float]  # (row, column) of the centre cross in cell pixels
    half_width: int  # of the guide bands, pixels
    level: float  # the guides' darkness
    border: int  # pixels to crop at each side to lose the cell borders


def cell_side(grid: Grid) -> int:
    """The side, in pixels, of the square each cell is resampled to."""
    return int(np.clip(round(grid.pitch), MIN_SIDE, MAX_SIDE))


def extract_cells(page: Page, grid: Grid, *, style: str = "auto") -> tuple[list[CellImage],
                                                                            Guides]:
    """Every cell of ``grid`` in reading order, cleaned, and the guides that were found."""
    side = cell_side(grid)
    ink = ink_darkness(page, grid)
    stack = resample_cells(ink, grid, side)
    if ink is page.darkness:
        guides = find_guides(stack, style=style)
    else:
        # Guides are found where they show (grey), and blended away where the cells are read:
        # a colour channel in which they are faint but rarely quite gone.
        guides = find_guides(resample_cells(page.darkness, grid, side), style=style)
        if guides.style != "square":
            level = _guide_level(stack, *guides.centre, guides.half_width)
            guides = dataclasses.replace(guides, level=level)
    clean = np.stack([remove_guides(patch, guides) for patch in stack])
    crop = slice(guides.border, side + 1 - guides.border)
    inner = clean[:, crop, crop]
    # Blank or not is judged on a lightly smoothed copy: scanner noise and JPEG speckle
    # average out, strokes (several pixels wide) do not.
    sigma = max(1.0, side / 64)
    smooth = ndimage.gaussian_filter(inner, sigma=(0, sigma, sigma))
    threshold = ink_threshold(smooth)
    cells = []
    for index in range(len(inner)):
        row, col = divmod(index, grid.columns)
        cells.append(_finish(row, col, inner[index], smooth[index] > threshold, side))
    return cells, guides


def ink_threshold(smooth: np.ndarray) -> float:
    """The darkness above which a (smoothed) cell pixel is ink: well above the paper's noise.

    Most pixels of most cells are paper, so the median and its spread describe paper.
    """
    sample = smooth[:, ::2, ::2]
    median = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - median)))
    return median + max(4 * spread, 0.045)


def ink_darkness(page: Page, grid: Grid) -> np.ndarray:
    """The page's darkness in the channel where the grid is faintest (grey if uncoloured)."""
    colour = grid_colour(page, grid)
    if colour is None:
        return page.darkness
    return page.channel_darkness(int(np.argmax(colour)))


def grid_colour(page: Page, grid: Grid) -> np.ndarray | None:
    """The ruled lines' colour relative to the paper (per channel, 1 = as bright as paper),
    or None when the lines are grey or black."""
    p = grid.points
    # Points a quarter, half and three quarters along each border segment between crossings.
    starts = np.concatenate([p[:, :-1].reshape(-1, 2), p[:-1, :].reshape(-1, 2)])
    ends = np.concatenate([p[:, 1:].reshape(-1, 2), p[1:, :].reshape(-1, 2)])
    samples = np.concatenate([starts + (ends - starts) * t for t in (0.25, 0.5, 0.75)])
    rows = np.clip(np.round(samples[:, 1]).astype(int), 0, page.shape[0] - 1)
    cols = np.clip(np.round(samples[:, 0]).astype(int), 0, page.shape[1] - 1)
    dark = page.darkness[rows, cols]
    on_line = dark > np.quantile(dark, 0.5)
    if on_line.sum() < 4:
        return None
    line = page.rgb[rows[on_line], cols[on_line]].astype(float).mean(axis=0)
    paper = np.quantile(page.rgb[::7, ::7].reshape(-1, 3).astype(float), 0.9, axis=0)
    relative = line / np.maximum(paper, 1.0)
    if relative.max() - relative.min() < 0.25:
        return None
    return relative


def resample_cells(dark: np.ndarray, grid: Grid, side: int) -> np.ndarray:
    """(cells, side + 1, side + 1) darkness: each cell's quad mapped onto a square."""
    t = np.arange(side + 1, dtype=np.float64) / side
    v, u = np.meshgrid(t, t, indexing="ij")
    quads = np.array([grid.quad(r, c) for r in range(grid.rows) for c in range(grid.columns)])
    tl, tr, br, bl = (quads[:, k][:, None, None, :] for k in range(4))
    u, v = u[None, :, :, None], v[None, :, :, None]
    # Bilinear between the four corners: within one cell, perspective is far below a pixel.
    points = (1 - u) * (1 - v) * tl + u * (1 - v) * tr + u * v * br + (1 - u) * v * bl
    values = ndimage.map_coordinates(dark, [points[..., 1].ravel(), points[..., 0].ravel()],
                                     order=1, mode="nearest")
    return values.reshape(len(quads), side + 1, side + 1).astype(np.float32)


def find_guides(stack: np.ndarray, *, style: str = "auto") -> Guides:
    """The guides of the grid, from profiles of all its cells.

    Each cell gives a profile (mean darkness per row, and per column); a low quantile over
    cells keeps what every cell has (printed lines) and drops what only some have
    (handwriting). Not the median: a row of a practice sheet repeats one character, so the same
    stroke can lie on the same line in most cells (the centre verticals of 永水人 shifted the
    median's peak 3 pixels off the guide). A guide is a narrow bump in it, darker than the
    profile a few pixels to either side.
    """
    side = stack.shape[1] - 1
    inner = slice(int(0.12 * side), int(0.88 * side) + 1)
    down = np.quantile(stack[:, :, inner].mean(axis=2), GUIDE_QUANTILE, axis=0)  # down the cell
    across = np.quantile(stack[:, inner, :].mean(axis=1), GUIDE_QUANTILE, axis=0)  # across it
    border = max(_border_extent(down), _border_extent(across))
    centre_row, strength_h, width_h = _centre_peak(down)
    centre_col, strength_v, width_v = _centre_peak(across)
    if style == "auto":
        if _diagonal_strength(stack) > GUIDE_MIN_CONTRAST:
            style = "mi"
        elif min(strength_h, strength_v) > max(GUIDE_MIN_CONTRAST, 5 * _roughness(down),
                                               5 * _roughness(across)):
            style = "tian"
        else:
            style = "square"
    half_width = int(np.ceil(max(width_h, width_v, 1.0) / 2)) + 1
    half_width = int(min(half_width, max(2, round(0.04 * side))))
    level = _guide_level(stack, centre_row, centre_col, half_width) if style != "square" else 0
    return Guides(style=style, centre=(centre_row, centre_col), half_width=half_width,
                  level=level, border=border)


def _border_extent(profile: np.ndarray) -> int:
    """How far the border lines reach into the cell, from either edge (pixels)."""
    side = len(profile) - 1
    base = float(np.median(profile[int(0.15 * side): int(0.35 * side)]))
    extent = 1
    for edge in (profile, profile[::-1]):
        peak = float(edge[:3].max())
        limit = base + 0.2 * (peak - base)
        reach = 0
        while reach < side // 4 and edge[reach] > limit:
            reach += 1
        extent = max(extent, reach)
    return extent + 2


def _roughness(profile: np.ndarray) -> float:
    """The typical size of a profile's small bumps (handwriting left in the median)."""
    side = len(profile) - 1
    part = profile[int(0.15 * side): int(0.85 * side) + 1]
    return float(np.median(np.abs(part - ndimage.median_filter(part, size=7, mode="nearest"))))


def _centre_peak(profile: np.ndarray) -> tuple[float, float, float]:
    """(position, contrast, width) of the sharpest bump near the middle of ``profile``.

    Contrast is measured against the profile a few pixels to either side (the lower side), so
    that a broad rise, such as handwriting's, does not count.
    """
    side = len(profile) - 1
    middle = side / 2
    window = np.arange(int(middle - 0.03 * side) - 1, int(middle + 0.03 * side) + 2)
    peak = int(window[np.argmax(profile[window])])
    step = max(3, round(0.06 * side))
    contrast = float(profile[peak]) - float(max(profile[peak - step], profile[peak + step]))
    half = float(profile[peak]) - contrast / 2
    low, high = peak, peak
    while low > peak - step and profile[low - 1] > half:
        low -= 1
    while high < peak + step and profile[high + 1] > half:
        high += 1
    return float(peak), contrast, float(high - low + 1)


def _diagonal_strength(stack: np.ndarray) -> float:
    """How much darker the cells' diagonals are than lines just beside them (median)."""
    side = stack.shape[1] - 1
    t = np.linspace(0.12, 0.42, 48) * side
    t = np.r_[t, side - t]
    offset = max(3.0, 0.06 * side)
    strengths = []
    for flip in (False, True):
        cells = stack[:, :, ::-1] if flip else stack
        on = _sample(cells, t, t)
        beside = np.maximum(_sample(cells, t + offset, t - offset),
                            _sample(cells, t - offset, t + offset))
        strengths.append(float(np.median(on - beside)))
    return min(strengths)


def _sample(cells: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each cell's mean darkness at the points (rows, cols), bilinear."""
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    values = (cells[:, r0, c0] * (1 - fr) * (1 - fc) + cells[:, r0 + 1, c0] * fr * (1 - fc)
              + cells[:, r0, c0 + 1] * (1 - fr) * fc + cells[:, r0 + 1, c0 + 1] * fr * fc)
    return values.mean(axis=1)


def _guide_level(stack: np.ndarray, row: float, col: float, half: int) -> float:
    band = np.concatenate([stack[:, int(row) - half: int(row) + half + 1, :].ravel(),
                           stack[:, :, int(col) - half: int(col) + half + 1].ravel()])
    return float(np.quantile(band, 0.8))


def remove_guides(patch: np.ndarray, guides: Guides) -> np.ndarray:
    """``patch`` (darkness) with its centre cross and diagonals blended away."""
    if guides.style == "square":
        return patch
    clean = patch.copy()
    h = guides.half_width
    keep_above = guides.level + INK_MARGIN_OVER_GUIDE
    row, col = (round(v) for v in guides.centre)
    side = patch.shape[0] - 1
    # Where the guides cross, each band's neighbours lie on the other guides; a second pass
    # blends from neighbours the first pass has cleaned.
    for _ in range(2):
        _blend_rows(clean, row, h, keep_above)
        _blend_rows(clean.T, col, h, keep_above)
        if guides.style == "mi":
            _blend_diagonal(clean, side, h, keep_above, anti=False)
            _blend_diagonal(clean, side, h, keep_above, anti=True)
    return clean


def _blend_rows(image: np.ndarray, centre: int, half: int, keep_above: float) -> None:
    above, below = centre - half - 1, centre + half + 1
    if above < 0 or below >= image.shape[0]:
        return
    weights = (np.arange(above + 1, below) - above)[:, None] / (below - above)
    blend = image[above][None, :] * (1 - weights) + image[below][None, :] * weights
    band = image[above + 1: below]
    image[above + 1: below] = np.where(band > keep_above, band, blend)


def _blend_diagonal(image: np.ndarray, side: int, half: int, keep_above: float, *,
                    anti: bool) -> None:
    ys, xs = np.mgrid[0: side + 1, 0: side + 1].astype(np.float64)
    xs_line = side - xs if anti else xs  # mirrored, the anti-diagonal is the main one
    distance = (xs_line - ys) / np.sqrt(2)
    band = np.abs(distance) <= half + 0.5
    band[: half + 2, : half + 2] = band[-half - 2:, -half - 2:] = False
    y, x_line, d = ys[band], xs_line[band], distance[band]
    reach = half + 1.5
    # Along the normal (1, -1)/sqrt(2) in (x_line, y): to the band's two edges.
    plus = (reach - d) / np.sqrt(2)
    minus = (reach + d) / np.sqrt(2)
    x_plus, y_plus = x_line + plus, y - plus
    x_minus, y_minus = x_line - minus, y + minus
    if anti:
        x_plus, x_minus = side - x_plus, side - x_minus
    v_plus = ndimage.map_coordinates(image, [y_plus, x_plus], order=1, mode="nearest")
    v_minus = ndimage.map_coordinates(image, [y_minus, x_minus], order=1, mode="nearest")
    weight = (d + reach) / (2 * reach)
    blend = v_minus + (v_plus - v_minus) * weight
    current = image[band]
    image[band] = np.where(current > keep_above, current, blend)


def _finish(row: int, col: int, inner: np.ndarray, ink: np.ndarray, side: int) -> CellImage:
    labels, count = ndimage.label(ink, structure=np.ones((3, 3), bool))
    longest = 0.0
    if count:
        # Specks (dust, noise the smoothing left) are far smaller than any stroke.
        min_area = max(4, int((side / 48) ** 2 * 6))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        for index, box in enumerate(ndimage.find_objects(labels), start=1):
            if sizes[index] >= min_area:
                extent = max(box[0].stop - box[0].start, box[1].stop - box[1].start)
                longest = max(longest, extent / side)
        small = sizes < min_area
        small[0] = True
        ink = ink & ~small[labels]
    share = float(ink.mean())
    # A smudge or a dot is not an attempt; fragmented faint pencil with plenty of ink is.
    blank = share < BLANK_INK_SHARE or longest < MIN_STROKE / 2 or (
        longest < MIN_STROKE and share < 3 * BLANK_INK_SHARE)
    if not blank:
        inner = stretch_faint_ink(inner, ink)
    return CellImage(row, col, darkness_to_pixels(inner), share, longest, blank)


def darkness_to_pixels(darkness: np.ndarray) -> np.ndarray:
    """Darkness (0 paper, 1 black) as the uint8 dark-on-white image a cell is sent as."""
    return np.clip(255.0 * (1.0 - darkness), 0, 255).astype(np.uint8)


def stretch_faint_ink(inner: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """``inner`` (darkness), its faint ink darkened so that it stands FAINT_INK_TARGET over the
    paper; a cell whose ink already does is returned as it is. ``ink`` marks the ink pixels."""
    if not ink.any():
        return inner
    paper = float(np.median(inner[~ink])) if (~ink).any() else 0.0
    strength = float(np.quantile(inner[ink], 0.9)) - paper
    if strength >= FAINT_INK_TARGET or strength <= 0:
        return inner
    gain = min(FAINT_INK_TARGET / strength, MAX_INK_GAIN)
    return np.clip((inner - paper) * gain, 0.0, 1.0).astype(inner.dtype)
