"""A character written with a brush: its filled stroke outlines, moved like pen strokes.

The stroke data also gives each stroke's outline (the Kai-like shape of a brush stroke). The
outlines ride along with the centre lines through ``distort_strokes`` (per-stroke, component
and whole-character changes), are filled on the canvas, made finer or broader, and finished
like every other sample. A second look at the characters, with stroke shapes no pen gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hanzi_grader.models.training.canvas import Canvas, draw_margins
from hanzi_grader.models.training.handwriting_style import HandwritingStyle, Writer
from hanzi_grader.models.training.medians import prepared_character
from hanzi_grader.models.training.paper import finish_ink
from hanzi_grader.models.training.stroke_distortion import distort_strokes
from hanzi_grader.models.training.strokes import (
    BOX_SIZE,
    Y_TOP,
    outline_polygon,
    shared_stroke_data,
)
from PIL import ImageFilter


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
