"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# TensorFlow's C++ start-up chatter would drown pytest's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def real_dev_dir() -> Path:
    """The real handwriting kept for evaluation (<repo>/../shared/real-dev); skip if absent."""
    path = (REPO_ROOT.parent / "shared" / "real-dev").resolve()
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"real handwriting not found at {path}")
    return path


KAI_FONT = Path("/usr/share/fonts/truetype/arphic/ukai.ttc")


def render_character(char: str = "永", side: int = 100, font_size: int | None = None):
    """A dark character on white paper, as a 2-D uint8 array, drawn with the Kai font."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    if not KAI_FONT.is_file():
        pytest.skip(f"font {KAI_FONT} not installed")
    font = ImageFont.truetype(str(KAI_FONT), font_size or int(side * 0.8))
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).text((side / 2, side / 2), char, fill=0, font=font, anchor="mm")
    return np.asarray(image).copy()


@pytest.fixture(scope="session")
def char_image():
    """Factory: ``char_image("永", side=100)`` -> dark-on-white uint8 array of that character."""
    return render_character


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """An untrained melnyk-tiny-32 bundle (with the Unknown output) in a temporary folder."""
    from hanzi_grader.models.bundle import create_untrained_bundle

    return create_untrained_bundle(tmp_path_factory.mktemp("bundle") / "tiny", "melnyk-tiny-32")
