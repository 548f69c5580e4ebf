"""The images a benchmark grades: real-size handwriting, the same bytes for every path.

Real inputs are the shared real-dev set (CASIA-HWDB cells of about 60-110 px, 2-3 KB of PNG
each), cycled to the count asked for. Without it, characters drawn in a Kai font at 96 px,
which are about the same size.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from hanzi_grader.settings import PACKAGE_ROOT

REAL_DEV = PACKAGE_ROOT.parent / "shared" / "real-dev" / "images"
KAI_FONT = Path("/usr/share/fonts/truetype/arphic/ukai.ttc")
FALLBACK_CHARACTERS = "安完宏宙实审室宪宰害宴容宿永水人大中国学生日月山木火土口手目心"


def images(count: int) -> list[bytes]:
    """``count`` PNG images of handwritten characters (repeating the set when it is smaller)."""
    pool = _pool()
    return [pool[i % len(pool)] for i in range(count)]


def describe() -> str:
    pool = _pool()
    sizes = sorted(len(b) for b in pool)
    source = "real-dev (CASIA-HWDB)" if REAL_DEV.is_dir() else "Kai-font renders, 96 px"
    return f"{len(pool)} distinct {source} PNGs, median {sizes[len(sizes) // 2]} bytes"


@lru_cache
def _pool() -> tuple[bytes, ...]:
    files = sorted(REAL_DEV.glob("*.png")) if REAL_DEV.is_dir() else []
    if files:
        return tuple(path.read_bytes() for path in files)
    return tuple(_rendered(char) for char in FALLBACK_CHARACTERS)


def _rendered(char: str, side: int = 96) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    font = (ImageFont.truetype(str(KAI_FONT), int(side * 0.8)) if KAI_FONT.is_file()
            else ImageFont.load_default())
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).text((side / 2, side / 2), char, fill=0, font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
