"""Synthetic handwriting: a character written from its stroke medians the way a person writes.

A *writer* (one draw from ``HandwritingStyle``'s ranges) decides the pen, the speed (joined
strokes, shortened and curved strokes), the slant and the sloppiness; the strokes are then
bent, shifted and stretched one by one, the components (radicals) moved and scaled, the whole
character sheared, rotated, squashed and elastically warped. Everything happens on the
centre-line points (a few hundred numbers, vectorised over strokes), so only the final
rasterisation touches pixels: variable-width polygons drawn with PIL at twice the output
resolution, then ink and paper, blur, noise, JPEG (``finish_ink``).

Every random number comes from the ``np.random.Generator`` passed in, in a fixed order that
does not depend on which strokes are omitted, so a seed gives identical bytes and an
incomplete sample is the full sample minus the named strokes' ink.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from hanzi_grader.models.training.strokes import (
    BOX_SIZE,
    Y_TOP,
    StrokeData,
    outline_polygon,
    shared_stroke_data,
)
from PIL import Image, ImageChops, ImageDraw, ImageFilter

POINTS_PER_STROKE = 16
SUPERSAMPLE = 2
Range = tuple[float, float]


@dataclass(frozen=True)
class HandwritingStyle:
    """The ranges a writer's knobs are drawn from; one sample = one writer.

    Lengths are fractions of the character's box (1.0 = the full 1024-unit box), angles in
    degrees. ``HandwritingStyle()`` is the training regime; ``HandwritingStyle.stress()`` a
    harsher one never used in training (an optional out-of-regime evaluation).
    """

    pen_width: Range = (0.024, 0.078)  # log-uniform: thin fast pens to thick slow brushes
    pressure_taper: Range = (0.0, 0.55)  # width lost at a stroke's ends
    stroke_width_jitter: float = 0.15  # per-stroke width change (relative std)
    stroke_shift: Range = (0.0, 0.025)  # per-stroke translation std
    stroke_rotation: Range = (0.0, 4.5)  # per-stroke rotation std
    stroke_scale: Range = (0.0, 0.12)  # per-stroke scale std
    bend: Range = (0.0, 0.07)  # per-stroke bow (fraction of the stroke's chord) std
    length_change: Range = (-0.12, 0.08)  # per stroke end: >0 extends, <0 shortens
    flourish_probability: Range = (0.0, 0.12)  # share of strokes whose end runs on
    flourish_length: Range = (0.1, 0.45)  # how far, as a share of the stroke's length
    corner_rounding: Range = (0.0, 5.0)  # smoothing passes along a stroke: a fast pen's corners
    wobble: Range = (0.0, 0.012)  # per-point noise, smoothed into gentle curves
    component_shift: Range = (0.0, 0.05)
    component_scale: Range = (0.0, 0.18)
    slant: Range = (-0.22, 0.3)  # shear of x by y; > 0 leans right, as most writers do
    # Shear of y by x; > 0 raises the right side: horizontal strokes climb to the right in
    # most people's handwriting while verticals stay upright (a rotation cannot do both).
    rise: Range = (-0.05, 0.2)
    rotation: Range = (-7.0, 7.0)
    aspect: Range = (0.72, 1.4)  # width / height
    elastic: Range = (0.0, 0.035)  # amplitude of a smooth warp
    join_probability: Range = (0.0, 0.95)  # share of consecutive strokes joined by a trail
    join_width: Range = (0.3, 0.9)  # trail width relative to the pen
    hook_probability: Range = (0.0, 0.6)  # share of unjoined stroke ends flicking onwards
    ink_level: Range = (0.0, 70.0)  # grey level of full ink
    paper_level: Range = (215.0, 255.0)
    white_paper_probability: float = 0.55  # CASIA-like pure white background
    ink_texture: Range = (0.0, 0.3)  # low-frequency lightening of the ink
    blur: Range = (0.0, 0.75)  # Gaussian sigma in output pixels
    noise: Range = (0.0, 9.0)  # scanner noise std in grey levels
    jpeg_probability: float = 0.3
    jpeg_quality: Range = (25.0, 90.0)
    grid_probability: float = 0.08
    margin: Range = (-0.03, 0.12)  # per side, fraction of the output size; <0 crops

    @classmethod
    def stress(cls) -> HandwritingStyle:
        """A regime beyond training's: wider slant and warp, thinner pens, more joins."""
        return cls(
            pen_width=(0.018, 0.05),
            slant=(-0.4, 0.4),
            elastic=(0.02, 0.05),
            join_probability=(0.5, 1.0),
            rotation=(-12.0, 12.0),
            rise=(-0.1, 0.3),
        )


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


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


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


def _smooth_along(values: np.ndarray, passes: int) -> np.ndarray:
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
        pts = _smooth_along(pts, int(writer.corner_rounding))
    # Bend: a bow perpendicular to the chord, strongest mid-stroke.
    chord = pts[:, -1] - pts[:, 0]
    bow = (writer.bend * np.clip(normal[:n], -2, 2))[:, None, None] * _arch(k)[None, :, None]
    pts = pts + bow * np.stack([-chord[:, 1], chord[:, 0]], axis=1)[:, None, :]
    # Wobble: smoothed per-point noise.
    wobble = normal[n : n + 2 * n * k].reshape(n, k, 2) * writer.wobble
    pts = pts + _smooth_along(wobble, 3)
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


@dataclass(frozen=True)
class Writer:
    """The concrete knobs of one sample, drawn from a ``HandwritingStyle``."""

    pen_width: float
    pressure_taper_start: float
    pressure_taper_end: float
    stroke_width_jitter: float
    stroke_shift: float
    stroke_rotation: float
    stroke_scale: float
    bend: float
    length_change: Range
    flourish_probability: float
    flourish_length: Range
    corner_rounding: float
    wobble: float
    component_shift: float
    component_scale: float
    slant: float
    rise: float
    rotation: float
    aspect: float
    elastic: float
    join_probability: float
    join_width: float
    hook_probability: float

    @classmethod
    def draw(cls, rng: np.random.Generator, style: HandwritingStyle) -> Writer:
        """One writer: every knob uniform in its range (pen width log-uniform)."""
        names = (
            "pressure_taper_start", "pressure_taper_end", "stroke_shift", "stroke_rotation",
            "stroke_scale", "bend", "wobble", "component_shift", "component_scale", "slant",
            "rotation", "aspect", "elastic", "join_probability", "join_width",
            "hook_probability", "flourish_probability", "corner_rounding", "rise",
        )
        ranges = np.array([getattr(style, _STYLE_FIELD.get(n, n)) for n in names], dtype=float)
        values = ranges[:, 0] + (ranges[:, 1] - ranges[:, 0]) * rng.random(len(names))
        lo, hi = style.length_change
        a, b = sorted(rng.uniform(lo, hi, 2))
        return cls(
            pen_width=_log_uniform(rng, style.pen_width),
            stroke_width_jitter=style.stroke_width_jitter,
            length_change=(a, b),
            flourish_length=style.flourish_length,
            **{name: float(v) for name, v in zip(names, values, strict=True)},
        )


# Writer knobs drawn from a style range of another name.
_STYLE_FIELD = {"pressure_taper_start": "pressure_taper", "pressure_taper_end": "pressure_taper"}


def width_profile(writer: Writer, k: int) -> np.ndarray:
    """Pen pressure along a stroke: pressed at the start, lifting off at the end."""
    u = np.linspace(0.0, 1.0, k)
    start = 1.0 - writer.pressure_taper_start * np.clip(1.0 - u / 0.18, 0, 1) ** 2
    end = 1.0 - writer.pressure_taper_end * np.clip((u - 0.55) / 0.45, 0, 1) ** 2
    return start * end


_TRAIL_T = np.linspace(0.0, 1.0, 8)[None, :, None]


def _trails(px: np.ndarray, reach: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trails from each stroke's end towards the next stroke's start: (n-1, 8, 2).

    A quadratic Bezier leaving along the stroke's last direction, as the pen does when it
    does not lift; ``reach`` (n-1,) in [0, 1] is how far along it the pen stays down
    (1: joined strokes, a little: the flick of a pen lifting towards the next stroke).
    """
    a, b = px[:-1, -1], px[1:, 0]
    leave = px[:-1, -1] - px[:-1, -3]
    gap = np.linalg.norm(b - a, axis=1, keepdims=True)
    leave = leave / (np.linalg.norm(leave, axis=1, keepdims=True) + 1e-9)
    carry = rng.uniform(0.1, 0.5, (len(a), 1))  # how far the pen follows its momentum
    control = a + leave * gap * carry + rng.normal(0, 0.08, (len(a), 2)) * gap
    t = _TRAIL_T * reach[:, None, None]
    return (1 - t) ** 2 * a[:, None] + 2 * (1 - t) * t * control[:, None] + t**2 * b[:, None]


_CAP_ANGLES = np.linspace(0.0, np.pi, 7)[1:-1]
_CAP_COS, _CAP_SIN = np.cos(_CAP_ANGLES), np.sin(_CAP_ANGLES)


@dataclass
class Canvas:
    """A supersampled ink-coverage canvas and the unit-box -> pixel mapping for it."""

    image: Image.Image
    draw: ImageDraw.ImageDraw
    scale: float
    offset: np.ndarray

    @classmethod
    def fit(
        cls, points: np.ndarray, pad: float, size: int, margins: np.ndarray
    ) -> Canvas:
        """A canvas whose longest side is ``size`` output pixels, ``points`` fitted inside."""
        lo = points.reshape(-1, 2).min(axis=0) - pad
        hi = points.reshape(-1, 2).max(axis=0) + pad
        extent = np.maximum(hi - lo, 1e-3)
        long_axis = int(np.argmax(extent))
        # margins: left, right, top, bottom, as fractions of size.
        along = margins[0] + margins[1] if long_axis == 0 else margins[2] + margins[3]
        scale = size * SUPERSAMPLE * max(0.5, 1.0 - along) / extent[long_axis]
        short_axis = 1 - long_axis
        short = extent[short_axis] * scale + (
            margins[2] + margins[3] if short_axis == 1 else margins[0] + margins[1]
        ) * size * SUPERSAMPLE
        short_px = int(np.clip(round(short / SUPERSAMPLE), 4, size)) * SUPERSAMPLE
        dims = (size * SUPERSAMPLE, short_px) if long_axis == 0 else (short_px, size * SUPERSAMPLE)
        offset = np.array([margins[0], margins[2]]) * size * SUPERSAMPLE - lo * scale
        image = Image.new("L", dims, 0)
        return cls(image, ImageDraw.Draw(image), scale, offset)

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        return points * self.scale + self.offset

    def strokes(
        self, px: np.ndarray, widths: np.ndarray, inks: Sequence[int], skip: set[int]
    ) -> None:
        """Variable-width strokes (pixel coordinates (n, k, 2), widths (n, k) in unit box).

        Each stroke is one polygon: the offset curves on both sides joined by round caps. A
        sharp turn leaves a bow-tie gap on its inner side, so strokes with one also get a
        spine line. Geometry is computed for all strokes at once; only the PIL calls loop.
        """
        half = widths * (self.scale / 2)
        tangent = np.empty_like(px)
        tangent[:, 1:-1] = px[:, 2:] - px[:, :-2]
        tangent[:, 0] = px[:, 1] - px[:, 0]
        tangent[:, -1] = px[:, -1] - px[:, -2]
        tangent /= np.maximum(np.sqrt((tangent**2).sum(axis=2, keepdims=True)), 1e-6)
        normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=2)
        side = normal * half[..., None]
        # Caps: half circles around the end points, from one side to the other.
        cos, sin = _CAP_COS[None, :, None], _CAP_SIN[None, :, None]
        end_cap = px[:, -1:] + half[:, -1:, None] * (
            normal[:, -1:] * cos + tangent[:, -1:] * sin
        )
        start_cap = px[:, :1] + half[:, :1, None] * (-normal[:, :1] * cos - tangent[:, :1] * sin)
        outlines = np.concatenate(
            [px + side, end_cap, (px - side)[:, ::-1], start_cap], axis=1
        ).reshape(len(px), -1).tolist()
        turned = ((tangent[:, 1:] * tangent[:, :-1]).sum(axis=2) < 0.5).any(axis=1).tolist()
        spines = px.reshape(len(px), -1).tolist()
        spine_widths = np.maximum(1, (2 * half.min(axis=1)).astype(int)).tolist()
        draw = self.draw
        for i, ink in enumerate(inks):
            if i in skip:
                continue
            draw.polygon(outlines[i], fill=ink)
            if turned[i]:
                draw.line(spines[i], fill=ink, width=spine_widths[i])

    def lines(self, px: np.ndarray, width: float, inks: Sequence[int]) -> None:
        """Thin polylines (pixel coordinates), e.g. joining trails, over what is drawn.

        Drawn on a layer of their own and merged by the darker ink, so a light trail never
        lightens a stroke it crosses.
        """
        if not len(px):
            return
        layer = Image.new("L", self.image.size, 0)
        draw = ImageDraw.Draw(layer)
        pixels = max(1, round(width * self.scale))
        for line, ink in zip(px.reshape(len(px), 2 * px.shape[1]).tolist(), inks, strict=True):
            draw.line(line, fill=ink, width=pixels)
        self.image = ImageChops.lighter(self.image, layer)

    def coverage(self) -> np.ndarray:
        """Ink coverage in [0, 1] at the output resolution (box-filtered = anti-aliased)."""
        return np.asarray(self.image.reduce(SUPERSAMPLE), dtype=np.float32) * (1.0 / 255.0)


def draw_margins(rng: np.random.Generator, style: HandwritingStyle) -> np.ndarray:
    return rng.uniform(style.margin[0], style.margin[1], 4)


def render_prepared(
    prepared: PreparedCharacter,
    rng: np.random.Generator,
    *,
    size: int = 96,
    omit_strokes: Sequence[int] = (),
    style: HandwritingStyle | None = None,
) -> np.ndarray:
    """``render_character`` for already prepared stroke data."""
    style = style or HandwritingStyle()
    writer = Writer.draw(rng, style)
    pts, _ = distort_strokes(prepared, rng, writer)
    n, k = pts.shape[:2]
    widths = (
        writer.pen_width
        * np.exp(rng.normal(0.0, writer.stroke_width_jitter, n))[:, None]
        * width_profile(writer, k)[None, :]
    )
    # One ink for all strokes: overlapping strokes then merge like real ink (the darker
    # wins), so leaving a stroke out can only take ink away.
    inks = [255] * n
    joins = rng.random(n - 1) < writer.join_probability
    hooks = ~joins & (rng.random(n - 1) < writer.hook_probability)
    reach = np.where(joins, 1.0, rng.uniform(0.08, 0.3, n - 1))
    margins = draw_margins(rng, style)
    canvas = Canvas.fit(pts, writer.pen_width / 2, size, margins)
    px = canvas.to_pixels(pts)
    omitted = set(omit_strokes)
    canvas.strokes(px, widths, inks, omitted)
    if n > 1:
        trails = _trails(px, reach, rng)
        trail_fade = rng.uniform(0, 60, n - 1)
        # A trail touching an omitted stroke goes with it: the stroke's ink must really vanish.
        drawn = joins | hooks
        keep = [i for i in range(n - 1) if drawn[i] and i not in omitted and i + 1 not in omitted]
        canvas.lines(trails[keep], writer.pen_width * writer.join_width,
                     [inks[i] - int(trail_fade[i]) for i in keep])
    return finish_ink(canvas.coverage(), rng, style)


def render_character(
    char_or_strokes: str | PreparedCharacter | Sequence[np.ndarray],
    rng: np.random.Generator,
    *,
    size: int = 96,
    omit_strokes: Sequence[int] = (),
    style: HandwritingStyle | None = None,
) -> np.ndarray:
    """One handwritten sample: uint8 grey, dark ink on light paper, longest side ``size``.

    ``char_or_strokes`` is a character (looked up in the fetched stroke data), a
    ``PreparedCharacter``, or a list of medians in the package's coordinates.
    ``omit_strokes`` leaves those stroke indices (writing order, from 0) out entirely.
    """
    if isinstance(char_or_strokes, str):
        prepared = prepared_character(char_or_strokes)
    elif isinstance(char_or_strokes, PreparedCharacter):
        prepared = char_or_strokes
    else:
        prepared = prepare_medians(char_or_strokes)
    return render_prepared(prepared, rng, size=size, omit_strokes=omit_strokes, style=style)


@dataclass(frozen=True)
class PreparedOutlines:
    """A character's stroke outlines as one padded array (the last vertex repeated)."""

    points: np.ndarray  # (strokes, max vertices, 2), unit box, y down
    lengths: tuple[int, ...]  # real vertex count per stroke


# Outlines are big (about 14 kB a character): keep only the recently used ones per process;
# a miss costs about a millisecond of parsing, and brush samples are a small share.
@lru_cache(maxsize=1024)
def prepared_outlines(char: str) -> PreparedOutlines:
    """The stroke outlines of ``char`` from the shared stroke data (cached per process)."""
    polygons = []
    for path in shared_stroke_data().outlines(char):
        unit = outline_polygon(path) / BOX_SIZE
        unit[:, 1] = Y_TOP / BOX_SIZE - unit[:, 1]
        polygons.append(unit)
    longest = max(len(p) for p in polygons)
    padded = np.stack([np.concatenate([p, np.repeat(p[-1:], longest - len(p), axis=0)])
                       for p in polygons])
    return PreparedOutlines(padded.astype(np.float32), tuple(len(p) for p in polygons))


def render_outline_character(
    char: str,
    rng: np.random.Generator,
    *,
    size: int = 96,
    omit_strokes: Sequence[int] = (),
    style: HandwritingStyle | None = None,
) -> np.ndarray:
    """``char`` written with a brush: its filled stroke outlines (Kai-like), moved stroke by
    stroke, component by component and as a whole like the pen style, the brush made finer
    or broader; same output conventions as ``render_character``."""
    style = style or HandwritingStyle()
    writer = Writer.draw(rng, style)
    outlines = prepared_outlines(char)
    _, placed = distort_strokes(prepared_character(char), rng, writer, outlines.points)
    brush = int(rng.integers(-2, 3))  # MinFilter / MaxFilter passes at the supersampled size
    canvas = Canvas.fit(placed, 0.0, size, draw_margins(rng, style))
    px = canvas.to_pixels(placed)
    omitted = set(omit_strokes)
    for i, length in enumerate(outlines.lengths):
        if i not in omitted:
            canvas.draw.polygon(px[i, :length].ravel().tolist(), fill=255)
    image = canvas.image
    operation = ImageFilter.MaxFilter(3) if brush > 0 else ImageFilter.MinFilter(3)
    for _ in range(abs(brush)):
        image = image.filter(operation)
    canvas.image = image
    return finish_ink(canvas.coverage(), rng, style)


@lru_cache(maxsize=64)
def _upsampling(length: int, knots: int = 4) -> np.ndarray:
    """(length, knots) linear-interpolation weights from ``knots`` evenly spaced values."""
    position = np.linspace(0.0, knots - 1.0, length)
    return np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(knots)[None, :])).astype(
        np.float32
    )


def _low_frequency_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A smooth random field in [0, 1] of ``shape``: a 4x4 random grid, bilinearly upsampled."""
    grid = rng.random((4, 4), dtype=np.float32)
    return _upsampling(shape[0]) @ grid @ _upsampling(shape[1]).T


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed bank of standard normal numbers; a sample's noise is a random slice of it
    (drawing fresh normals per pixel costs more than the rest of the finishing)."""
    return np.random.default_rng(12345).standard_normal(1 << 20, dtype=np.float32)


def _pixel_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    bank = _noise_bank()
    count = shape[0] * shape[1]
    start = int(rng.integers(0, len(bank) - count))
    return bank[start : start + count].reshape(shape)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable 3-tap Gaussian blur (enough for sigma up to about 1 pixel)."""
    side = math.exp(-0.5 / (sigma * sigma))
    centre, side = 1.0 / (1.0 + 2.0 * side), side / (1.0 + 2.0 * side)
    for axis in (0, 1):
        out = image * centre
        if axis == 0:
            out[1:] += side * image[:-1]
            out[:-1] += side * image[1:]
        else:
            out[:, 1:] += side * image[:, :-1]
            out[:, :-1] += side * image[:, 1:]
        image = out
    return image


def _grid_lines(paper: np.ndarray, rng: np.random.Generator) -> None:
    """Faint practice-paper lines (a cell border or the dashed cross of a 田字格)."""
    h, w = paper.shape
    depth = rng.uniform(15, 60)
    # Clipped: a narrow render (a punctuation mark, "1") can be only a few pixels wide.
    if rng.random() < 0.5:
        paper[int(np.clip(h // 2 + rng.integers(-2, 3), 0, h - 1)), ::2] -= depth
        paper[::2, int(np.clip(w // 2 + rng.integers(-2, 3), 0, w - 1))] -= depth
    else:
        edge = int(rng.integers(0, 3))
        paper[min(edge, h - 1), :] -= depth
        paper[:, min(edge, w - 1)] -= depth


def finish_ink(
    coverage: np.ndarray, rng: np.random.Generator, style: HandwritingStyle | None = None
) -> np.ndarray:
    """Ink coverage in [0, 1] -> a scanned-looking uint8 grey image (shared by all sources).

    Handwriting, fonts and Unknown samples all go through here, so their ink, paper, blur and
    noise statistics match and no brightness shortcut separates the classes.
    """
    style = style or HandwritingStyle()
    shape = coverage.shape
    sigma = _uniform(rng, style.blur)
    if sigma > 0.3:
        coverage = _blur(coverage, sigma)
    texture = _uniform(rng, style.ink_texture)
    if texture > 0.05:
        coverage = coverage * (1.0 - texture * _low_frequency_field(rng, shape))
    ink_level = _uniform(rng, style.ink_level)
    if rng.random() < style.white_paper_probability:
        paper = np.full(shape, 255.0, dtype=np.float32)
    else:
        paper = np.float32(_uniform(rng, style.paper_level)) - np.float32(
            rng.uniform(0, 20)
        ) * _low_frequency_field(rng, shape)
    if rng.random() < style.grid_probability:
        _grid_lines(paper, rng)
    image = paper - coverage * (paper - np.float32(ink_level))
    noise = _uniform(rng, style.noise)
    if noise > 0.5:
        image = image + np.float32(noise) * _pixel_noise(rng, shape)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < style.jpeg_probability:
        out = _jpeg(out, int(_uniform(rng, style.jpeg_quality)))
    return out


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("L"))
