"""Ink on paper: the finishing every sample goes through copes with any render's shape."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.paper import finish_ink


@pytest.mark.parametrize("shape", [(48, 1), (1, 48), (4, 4), (2, 30)])
def test_grid_lines_fit_a_render_of_a_few_pixels(shape):
    # A punctuation mark or a "1" can come out only a few pixels wide; a grid line drawn at
    # the centre +-2 once fell outside it and stopped a training run.
    style = dataclasses.replace(HandwritingStyle(), grid_probability=1.0)
    for seed in range(40):
        out = finish_ink(np.ones(shape, np.float32), np.random.default_rng(seed), style)
        assert out.shape == shape
