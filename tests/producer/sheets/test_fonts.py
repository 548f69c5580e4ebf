"""The pictures show characters on any machine: the packaged font, and a legend on every page."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.producer.sheets import fonts
from hanzi_grader.producer.sheets.annotate import LEGEND, annotate, header_height
from hanzi_grader.producer.sheets.collect import SheetResult
from PIL import Image, ImageDraw, ImageFont


def drawn(text: str, font) -> np.ndarray:
    image = Image.new("L", (160, 60), 255)
    ImageDraw.Draw(image).text((4, 4), text, fill=0, font=font)
    return np.asarray(image) < 128


@pytest.fixture
def no_system_fonts(monkeypatch):
    """A machine without /usr/share/fonts: every font lookup there fails."""
    real = ImageFont.truetype

    def truetype(font, *args, **kwargs):
        if str(font).startswith("/usr/share/fonts"):
            raise OSError(f"cannot open resource {font}")
        return real(font, *args, **kwargs)

    monkeypatch.setattr(ImageFont, "truetype", truetype)
    monkeypatch.setattr(fonts, "KAI_FONTS", (("/nonexistent/ukai.ttc", 0),))
    fonts.sans_font.cache_clear()
    fonts.kai_font.cache_clear()
    yield
    fonts.sans_font.cache_clear()
    fonts.kai_font.cache_clear()


def test_the_packaged_font_has_the_characters_and_latin(no_system_fonts):
    font = fonts.sans_font(40)
    box = drawn("\ue000", font)  # a private-use code point: the font's missing-glyph box
    for text in ["你", "好", "学", "鲍", "score 35%", "l1"]:
        ink = drawn(text, font)
        assert ink.any() and not np.array_equal(ink, box), text
    assert not np.array_equal(drawn("你", font), drawn("好", font))
    assert fonts.kai_font(40).path == str(fonts.PACKAGED_FONT)


def test_an_annotated_header_shows_the_characters_without_system_fonts(no_system_fonts):
    scan = np.full((600, 800, 3), 250, np.uint8)

    def header(practise: str) -> np.ndarray:
        result = SheetResult("s1.png", "s1", "sheet-1", score=0.5, practise=[practise])
        return np.asarray(annotate(scan, None, result))[: header_height(800)]

    assert not np.array_equal(header("你"), header("好"))


def test_a_narrow_scan_gets_its_legend_below():
    scan = np.full((300, 160, 3), 250, np.uint8)
    result = SheetResult("s1.png", "s1", "sheet-1", score=0.5)

    image = np.asarray(annotate(scan, None, result))

    header = header_height(160)
    assert image.shape[0] > 300 + header
    footer = image[300 + header:]
    for _, swatch in LEGEND:
        assert (footer == swatch).all(axis=2).any(), swatch
