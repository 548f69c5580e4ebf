"""Font renders: distorted, same conventions as handwriting, a held-out face kept apart."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.models.training.fonts import (
    HELDOUT_FONTS,
    TRAIN_FONTS,
    available,
    has_glyph,
    render_font_character,
)

pytestmark = pytest.mark.skipif(
    not available(TRAIN_FONTS) or not available(HELDOUT_FONTS), reason="CJK fonts not installed"
)


@pytest.mark.parametrize("fonts", [TRAIN_FONTS, HELDOUT_FONTS], ids=["train", "heldout"])
def test_font_samples_are_dark_ink_on_light_paper_and_reproducible(fonts):
    a = render_font_character("国", np.random.default_rng(3), fonts=fonts, size=64)
    b = render_font_character("国", np.random.default_rng(3), fonts=fonts, size=64)
    assert a.tobytes() == b.tobytes()
    assert a.dtype == np.uint8 and max(a.shape) == 64
    assert np.percentile(a, 90) > 180 and a.min() < 120


def test_heldout_faces_are_never_training_faces():
    assert not {(f.path, f.index) for f in HELDOUT_FONTS} & {(f.path, f.index) for f in TRAIN_FONTS}


def test_an_empty_glyph_does_not_count_as_having_the_character():
    # Seto draws Japanese forms only; it maps 边 (simplified Chinese) to an empty glyph.
    seto = next((f for f in available(TRAIN_FONTS) if f.name == "seto"), None)
    if seto is None:
        pytest.skip("fonts-seto not installed")
    assert has_glyph(seto, "安") and not has_glyph(seto, "边")


def test_a_missing_glyph_is_detected_and_named():
    private_use = "\ue123"
    assert not any(has_glyph(font, private_use) for font in available(TRAIN_FONTS))
    assert has_glyph(TRAIN_FONTS[0], "国")
    with pytest.raises(ValueError, match=r"has a glyph for '.+ue123'"):
        render_font_character(private_use, np.random.default_rng(0))
