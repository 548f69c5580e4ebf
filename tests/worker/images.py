"""Small handwriting-like test images drawn with a CJK font (real PNG bytes)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@lru_cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def character_png(char: str, *, size: int = 64, shift: int = 0) -> bytes:
    """A black character on white, as PNG bytes; ``shift`` moves it to vary the bytes."""
    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).text((6 + shift % 5, 2 + shift // 5 % 5), char, fill=0,
                               font=_font(size - 14))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def blank_png(size: int = 64) -> bytes:
    """A white image: no ink at all."""
    buffer = io.BytesIO()
    Image.new("L", (size, size), 255).save(buffer, format="PNG")
    return buffer.getvalue()
