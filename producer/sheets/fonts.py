"""A CJK font for drawing on sheets (printed models, headers, annotations)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

# Kai first: printed model characters on practice sheets are Kai, and it reads well at any size.
CJK_FONTS = (
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
    ("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
)


@lru_cache(maxsize=64)
def cjk_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The first installed CJK font at ``size`` pixels (Pillow's default font if none is)."""
    for path, index in CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, max(6, int(size)), index=index)
    return ImageFont.load_default(max(6, int(size)))


def has_cjk_font() -> bool:
    return any(Path(path).exists() for path, _ in CJK_FONTS)
