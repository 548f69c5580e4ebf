"""Unknown samples look like class samples in everything but shape (no brightness shortcut)."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.training.samples import SampleGenerator
from hanzi_grader.models.training.unknowns import KINDS, render_unknown

pytestmark = pytest.mark.usefixtures("stroke_data")


def _statistics(images: list[np.ndarray]) -> dict[str, float]:
    """Paper level, ink level, and the preprocessed input's mean and ink share."""
    paper, ink, mean, share = [], [], [], []
    for image in images:
        dark = image < np.percentile(image, 8)
        paper.append(float(np.median(image)))
        ink.append(float(image[dark].mean()) if dark.any() else float(image.min()))
        x = preprocess(image, 64)
        mean.append(float(x.mean()))
        share.append(float((x > 0.5).mean()))
    return {name: float(np.mean(v)) for name, v in
            [("paper", paper), ("ink", ink), ("mean", mean), ("share", share)]}


def test_unknowns_match_class_brightness_and_ink_statistics():
    generator = SampleGenerator(seed=9, size=64)
    rng = np.random.default_rng(9)
    classes = [generator.render(int(label)) for label in rng.integers(0, 3755, 150)]
    unknowns = [render_unknown(rng, size=64)[0] for _ in range(150)]

    known, unknown = _statistics(classes), _statistics(unknowns)

    assert abs(known["paper"] - unknown["paper"]) < 8
    assert abs(known["ink"] - unknown["ink"]) < 15
    assert abs(known["mean"] - unknown["mean"]) < 0.06
    assert abs(known["share"] - unknown["share"]) < 0.08


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_dark_ink_on_light_paper(kind: str):
    rng = np.random.default_rng(1)
    for _ in range(5):
        image, got = render_unknown(rng, size=64, kind=kind)
        assert got == kind and image.dtype == np.uint8
        assert max(image.shape) == 64
        assert np.percentile(image, 95) > 180  # light paper
        assert image.min() < np.percentile(image, 95) - 60  # dark ink


def test_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="emoji"):
        render_unknown(np.random.default_rng(0), kind="emoji")
