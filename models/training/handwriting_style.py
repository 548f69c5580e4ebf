"""How a person writes, as numbers: a handwriting style's ranges and one writer drawn from them.

``HandwritingStyle`` holds the ranges every knob of the synthesiser is drawn from (pen width,
slant, sloppiness, ink and paper); ``Writer`` is one draw, the concrete knobs of a single
sample. Kept apart from the code that uses the knobs so that the regime a model was trained on
(``HandwritingStyle()``) and the harsher ``stress()`` one can be read, and changed, in one
place, and so that every other part of the synthesiser can depend on it without depending on
each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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


def draw_uniform(rng: np.random.Generator, bounds: Range) -> float:
    """One number uniform in ``bounds``."""
    return float(rng.uniform(bounds[0], bounds[1]))


def draw_log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    """One number log-uniform in ``bounds`` (both > 0)."""
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


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
            pen_width=draw_log_uniform(rng, style.pen_width),
            stroke_width_jitter=style.stroke_width_jitter,
            length_change=(a, b),
            flourish_length=style.flourish_length,
            **{name: float(v) for name, v in zip(names, values, strict=True)},
        )


# Writer knobs drawn from a style range of another name.
_STYLE_FIELD = {"pressure_taper_start": "pressure_taper", "pressure_taper_end": "pressure_taper"}
