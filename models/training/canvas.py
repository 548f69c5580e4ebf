"""The supersampled canvas strokes are drawn on, and where a character sits on it.

Only here do the centre lines become pixels: ``Canvas.fit`` maps the unit box onto an image
twice the output resolution (``SUPERSAMPLE``) with the margins ``draw_margins`` chose,
``Canvas.strokes`` draws variable-width strokes as polygons and ``Canvas.lines`` thin trails,
and ``Canvas.coverage`` box-filters the result down to anti-aliased ink coverage in [0, 1],
ready for the paper (``paper.finish_ink``). Pen, brush, trajectory and font samples all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from PIL import Image, ImageChops, ImageDraw

SUPERSAMPLE = 2

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

