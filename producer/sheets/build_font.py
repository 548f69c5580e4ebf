"""Builds the font the package brings (``font/HanziGraderSans-Regular.otf``) from Noto Sans CJK.

The pictures the project draws (annotated sheets, the class summary) must show characters on
any machine, fonts installed or not, so the package carries a subset of Noto Sans CJK SC
(SIL Open Font License 1.1, ``font/OFL.txt``): every GB2312 character, ASCII, CJK and
full-width punctuation, renamed as the licence asks of a modified version. A maintainer runs
this once, on a machine with Debian's fonts-noto-cjk and fontTools (``pip install fonttools``):

    python -m hanzi_grader.producer.sheets.build_font
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_INDEX = 2  # Noto Sans CJK SC in Debian's collection
FAMILY = "Hanzi Grader Sans"
TARGET = Path(__file__).resolve().parent / "font" / "HanziGraderSans-Regular.otf"

EXTRA_RANGES = (
    (0x20, 0x7E),  # ASCII
    (0xA0, 0xFF),  # Latin-1 (°, ·, ×)
    (0x2010, 0x2027),  # dashes, quotes, the ellipsis
    (0x2190, 0x2193),  # arrows
    (0x2713, 0x2717),  # check and cross marks
    (0x3000, 0x303F),  # CJK punctuation
    (0xFF01, 0xFF5E),  # full-width forms
)


def gb2312_characters() -> set[str]:
    """Every character GB2312 encodes (levels 1 and 2, symbols), by decoding its code space."""
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def build(source: Path = SOURCE, target: Path = TARGET) -> Path:
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    font = TTCollection(str(source)).fonts[SOURCE_INDEX]
    chars = gb2312_characters() | {chr(c) for lo, hi in EXTRA_RANGES for c in range(lo, hi + 1)}
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    names = font["name"]
    # OFL: a modified version carries its own name (1 family, 3 unique id, 4 full, 6 PostScript).
    for record in list(names.names):
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID in (3, 4):
            record.string = f"{FAMILY} Regular"
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "") + "-Regular"
        elif record.nameID == 17:
            record.string = "Regular"
    font["CFF "].cff.fontNames = [FAMILY.replace(" ", "") + "-Regular"]
    target.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(target))
    return target


if __name__ == "__main__":
    path = build()
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
