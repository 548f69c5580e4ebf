"""Samples of the Unknown class: anything a student might submit that is not one of the 3755.

Every kind is drawn with the same pen widths and finished by the same ``paper.finish_ink`` as
the real classes, so ink polarity, stroke width and brightness carry no hint of the label (the
HSK1 v5 lesson: otherwise the model learns a brightness shortcut instead of shapes).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from hanzi_grader.models.charset import CLASSES
from hanzi_grader.models.training.brush import render_outline_character
from hanzi_grader.models.training.fonts import (
    LATIN_FONTS,
    TRAIN_FONTS,
    FontSpec,
    available,
    has_glyph,
    render_font_character,
)
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.medians import POINTS_PER_STROKE, PreparedCharacter
from hanzi_grader.models.training.stroke_distortion import smooth_along
from hanzi_grader.models.training.strokes import shared_stroke_data
from hanzi_grader.models.training.synth import render_character, render_prepared

LATIN = string.ascii_letters + string.digits
PUNCTUATION = "?!.,;:()[]{}<>+-=*/#&%@~，。、？！；：“”《》（）…—·"

# kind -> share of Unknown samples
# Other characters come in the same mix of pen, brush and font as the class samples, so
# that no style means "Unknown".
KIND_WEIGHTS: dict[str, float] = {
    "other_character": 0.35,
    "other_character_brush": 0.05,
    "other_character_font": 0.1,
    "latin": 0.2,
    "punctuation": 0.07,
    "scribble": 0.19,
    "marks": 0.04,
}


@lru_cache(maxsize=1)
def other_characters() -> str:
    """Characters with stroke data that are not among the 3755 classes."""
    known = set(CLASSES)
    return "".join(c for c in shared_stroke_data().characters() if c not in known)


def _other_character(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    pool = other_characters()
    return render_character(pool[int(rng.integers(len(pool)))], rng, size=size, style=style)


def _other_character_brush(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    pool = other_characters()
    char = pool[int(rng.integers(len(pool)))]
    return render_outline_character(char, rng, size=size, style=style)


def _other_character_font(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    pool = other_characters()
    installed = available(fonts)
    for _ in range(20):  # most of the pool is in every CJK font; skip the rare one that is not
        char = pool[int(rng.integers(len(pool)))]
        if any(has_glyph(font, char) for font in installed):
            return render_font_character(char, rng, fonts=fonts, size=size, style=style)
    return _other_character(rng, size, style, fonts)


def _font_symbol(
    pool: str, rng: np.random.Generator, size: int, style: HandwritingStyle
) -> np.ndarray:
    char = pool[int(rng.integers(len(pool)))]
    # A stroke outline thickens thin Latin faces towards the pen widths of the handwriting.
    stroke_width = int(rng.integers(0, 5))
    return render_font_character(
        char, rng, fonts=LATIN_FONTS, size=size, style=style, stroke_width=stroke_width
    )


def _latin(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    return _font_symbol(LATIN, rng, size, style)


def _punctuation(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    return _font_symbol(PUNCTUATION, rng, size, style)


def _random_strokes(rng: np.random.Generator, n_strokes: int, reach: float) -> PreparedCharacter:
    """Smooth random pen paths: a few control points each, resampled like medians."""
    starts = rng.uniform(0.1, 0.9, (n_strokes, 1, 2))
    steps = rng.normal(0, reach, (n_strokes, POINTS_PER_STROKE, 2))
    steps = smooth_along(steps, 4)
    points = starts + np.cumsum(steps, axis=1) / 3
    return PreparedCharacter(points, np.zeros(n_strokes, dtype=np.int64), 1)


def _scribble(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    prepared = _random_strokes(rng, int(rng.integers(1, 9)), rng.uniform(0.05, 0.25))
    return render_prepared(prepared, rng, size=size, style=style)


def _marks(
    rng: np.random.Generator, size: int, style: HandwritingStyle, fonts: tuple[FontSpec, ...]
) -> np.ndarray:
    """Almost nothing: a dot or two, a short dash: what a blank cell with a slip looks like."""
    prepared = _random_strokes(rng, int(rng.integers(1, 3)), rng.uniform(0.002, 0.02))
    return render_prepared(prepared, rng, size=size, style=style)


Kind = Callable[[np.random.Generator, int, HandwritingStyle, tuple[FontSpec, ...]], np.ndarray]
KINDS: dict[str, Kind] = {
    "other_character": _other_character,
    "other_character_brush": _other_character_brush,
    "other_character_font": _other_character_font,
    "latin": _latin,
    "punctuation": _punctuation,
    "scribble": _scribble,
    "marks": _marks,
}


def render_unknown(
    rng: np.random.Generator,
    *,
    size: int = 96,
    style: HandwritingStyle | None = None,
    kind: str | None = None,
    fonts: tuple[FontSpec, ...] = TRAIN_FONTS,
) -> tuple[np.ndarray, str]:
    """One Unknown-class sample and its kind (``KIND_WEIGHTS`` picks one unless ``kind`` given).

    uint8 grey, dark ink on light paper, longest side ``size``, like the class samples;
    ``fonts`` are the CJK fonts other characters may be drawn from.
    """
    style = style or HandwritingStyle()
    if kind is None:
        names = list(KIND_WEIGHTS)
        weights = np.array([KIND_WEIGHTS[k] for k in names])
        kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind](rng, size, style, fonts), kind
