"""The brush style: reproducible, and a left-out stroke takes only its own ink."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.models.training.brush import render_outline_character
from hanzi_grader.models.training.handwriting_style import HandwritingStyle

pytestmark = pytest.mark.usefixtures("stroke_data")


def _ink(image: np.ndarray) -> np.ndarray:
    return image < 128


def test_brush_style_is_reproducible_and_omits_strokes(clean_style: HandwritingStyle):
    a = render_outline_character("你", np.random.default_rng(2), style=clean_style)
    b = render_outline_character("你", np.random.default_rng(2), style=clean_style)
    assert a.tobytes() == b.tobytes() and a.min() < 120
    for stroke in range(7):
        without = render_outline_character(
            "你", np.random.default_rng(2), omit_strokes=[stroke], style=clean_style
        )
        assert (_ink(a) & ~_ink(without)).sum() > 0
        assert not (_ink(without) & ~_ink(a)).any()
