"""The pen synthesiser: reproducible, dark ink on light paper, strokes really omitted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.samples import incomplete_sample
from hanzi_grader.models.training.strokes import StrokeData
from hanzi_grader.models.training.synth import render_character

pytestmark = pytest.mark.usefixtures("stroke_data")


def test_same_seed_gives_identical_bytes():
    a = render_character("安", np.random.default_rng(7), size=80)
    b = render_character("安", np.random.default_rng(7), size=80)
    c = render_character("安", np.random.default_rng(8), size=80)
    assert a.tobytes() == b.tobytes()
    assert a.shape != c.shape or a.tobytes() != c.tobytes()


def test_output_is_dark_ink_on_light_paper_with_longest_side_size():
    rng = np.random.default_rng(1)
    for char in "安你好学中国大人":
        image = render_character(char, rng, size=64)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert max(image.shape) == 64
        assert np.median(image) > 150  # mostly paper
        assert image.min() < 120  # with dark ink


def test_renders_from_raw_medians():
    medians = [np.array([[100, 400], [900, 400]]), np.array([[500, 800], [500, 0]])]
    image = render_character(medians, np.random.default_rng(0), size=48)
    assert image.min() < 120


def _ink(image: np.ndarray) -> np.ndarray:
    return image < 128


@pytest.mark.parametrize("char", ["安", "国", "学"])
def test_an_omitted_stroke_loses_exactly_its_own_ink(
    char: str, stroke_data: StrokeData, clean_style: HandwritingStyle
):
    # Joining trails and flicks go with the stroke they leave from or lead to: without them
    # the ink a stroke takes away is its own ink alone.
    clean_style = dataclasses.replace(
        clean_style, join_probability=(0.0, 0.0), hook_probability=(0.0, 0.0)
    )
    n = len(stroke_data.medians(char))
    for stroke in range(n):
        full = render_character(char, np.random.default_rng(3), style=clean_style)
        without = render_character(
            char, np.random.default_rng(3), omit_strokes=[stroke], style=clean_style
        )
        only = render_character(
            char, np.random.default_rng(3), style=clean_style,
            omit_strokes=[i for i in range(n) if i != stroke],
        )
        assert full.shape == without.shape == only.shape  # the rest stays where it was
        lost = _ink(full) & ~_ink(without)
        # Some ink is gone, nothing new appeared, and what went was the stroke's own ink.
        assert lost.sum() > 0
        assert not (_ink(without) & ~_ink(full)).any()
        assert (lost & ~_ink(only)).sum() <= 0.05 * lost.sum()


def test_an_omitted_stroke_takes_its_trails_and_adds_nothing(clean_style: HandwritingStyle):
    joined = dataclasses.replace(clean_style, join_probability=(1.0, 1.0))
    for stroke in range(6):
        full = render_character("安", np.random.default_rng(11), style=joined)
        without = render_character(
            "安", np.random.default_rng(11), omit_strokes=[stroke], style=joined
        )
        assert (_ink(full) & ~_ink(without)).sum() > 0
        assert not (_ink(without) & ~_ink(full)).any()


def test_incomplete_sample_names_the_missing_strokes(clean_style: HandwritingStyle):
    image, missing = incomplete_sample("安", np.random.default_rng(5), 2, style=clean_style)

    assert len(missing) == 2 and len(set(missing)) == 2 and all(0 <= i < 6 for i in missing)
    rng = np.random.default_rng(5)
    rng.choice(6, 2, replace=False)  # the same draws incomplete_sample made first
    full = render_character("安", rng, style=clean_style)
    assert (_ink(full) & ~_ink(image)).sum() > 0
    assert not (_ink(image) & ~_ink(full)).any()


def test_cannot_leave_out_every_stroke():
    with pytest.raises(ValueError, match="cannot leave out"):
        incomplete_sample("人", np.random.default_rng(0), 2)
