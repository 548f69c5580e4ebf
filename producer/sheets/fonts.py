"""Fonts for drawing on sheets: the sans face the package brings, and Kai for printed models.

Annotated sheets and the class summary draw with ``font/HanziGraderSans-Regular.otf`` (a
GB2312 subset of Noto Sans CJK SC, built by ``build_font.py``), so that they show the same
characters on every machine, CJK fonts installed or not, and Latin text in a sans face.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

PACKAGED_FONT = Path(__file__).resolve().parent / "font" / "HanziGraderSans-Regular.otf"

# Printed model characters on generated practice sheets are Kai, as on real ones, where the
# machine has a Kai face; otherwise the packaged sans.
KAI_FONTS = (
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
    ("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf", 0),
)


@lru_cache(maxsize=64)
def sans_font(size: int) -> ImageFont.FreeTypeFont:
    """The packaged sans face (CJK and Latin) at ``size`` pixels."""
    return ImageFont.truetype(str(PACKAGED_FONT), max(6, int(size)))


@lru_cache(maxsize=64)
def kai_font(size: int) -> ImageFont.FreeTypeFont:
    """An installed Kai face at ``size`` pixels, else the packaged sans."""
    for path, index in KAI_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, max(6, int(size)), index=index)
    return sans_font(size)
