"""Synthetic handwriting: a character written from its stroke medians the way a person writes.

A *writer* (one draw from ``HandwritingStyle``'s ranges) decides the pen, the speed (joined
strokes, shortened and curved strokes), the slant and the sloppiness; the strokes are then
bent, shifted and stretched one by one, the components (radicals) moved and scaled, the whole
character sheared, rotated, squashed and elastically warped. Everything happens on the
centre-line points (a few hundred numbers, vectorised over strokes), so only the final
rasterisation touches pixels: variable-width polygons drawn with PIL at twice the output
resolution, then ink and paper, blur, noise, JPEG (``finish_ink``).

This module is the top that composes the parts, each in a module of its own:
``handwriting_style`` (the ranges and one writer's knobs), ``medians`` (a character's centre
lines and components), ``stroke_distortion`` (moving them as the writer does), ``pens``
(pressure and joining trails), ``canvas`` (pixels), ``paper`` (ink, paper and scanning) and,
beside this pen, ``brush`` (the outline-filled brush style).

Every random number comes from the ``np.random.Generator`` passed in, in a fixed order that
does not depend on which strokes are omitted, so a seed gives identical bytes and an
incomplete sample is the full sample minus the named strokes' ink.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hanzi_grader.models.training.canvas import Canvas, draw_margins
from hanzi_grader.models.training.handwriting_style import HandwritingStyle, Writer
from hanzi_grader.models.training.medians import (
    PreparedCharacter,
    prepare_medians,
    prepared_character,
)
from hanzi_grader.models.training.paper import finish_ink
from hanzi_grader.models.training.pens import trails, width_profile
from hanzi_grader.models.training.stroke_distortion import distort_strokes


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
        trail_lines = trails(px, reach, rng)
        trail_fade = rng.uniform(0, 60, n - 1)
        # A trail touching an omitted stroke goes with it: the stroke's ink must really vanish.
        drawn = joins | hooks
        keep = [i for i in range(n - 1) if drawn[i] and i not in omitted and i + 1 not in omitted]
        canvas.lines(trail_lines[keep], writer.pen_width * writer.join_width,
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
