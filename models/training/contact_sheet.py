"""A contact sheet: a grid of synthetic samples for a person to judge by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.training.fonts import HELDOUT_FONTS, TRAIN_FONTS, available, render_font_character
from models.training.samples import incomplete_sample
from models.training.synth import (
    HandwritingStyle,
    prepared_character,
    render_character,
    render_outline_character,
)
from models.training.unknowns import render_unknown

LABEL_WIDTH = 150
GAP = 4


def _row_label_font(size: int) -> ImageFont.ImageFont:
    fonts = available(TRAIN_FONTS)
    if not fonts:
        return ImageFont.load_default()
    return ImageFont.truetype(fonts[-1].path, max(12, size // 5), index=fonts[-1].index)


def _rows(
    chars: str, columns: int, seed: int, size: int, heldout: bool
) -> list[tuple[str, list[np.ndarray]]]:
    style = HandwritingStyle.stress() if heldout else HandwritingStyle()
    fonts = HELDOUT_FONTS if heldout else TRAIN_FONTS
    rows: list[tuple[str, list[np.ndarray]]] = []
    for r, char in enumerate(chars):
        rng = np.random.default_rng([seed, r])
        rows.append(
            (f"{char} hand", [render_character(char, rng, size=size, style=style)
                              for _ in range(columns)])
        )
        rows.append(
            (f"{char} brush", [render_outline_character(char, rng, size=size, style=style)
                               for _ in range(columns)])
        )
        rows.append(
            (f"{char} font", [render_font_character(char, rng, fonts=fonts, size=size, style=style)
                              for _ in range(columns)])
        )
    rng = np.random.default_rng([seed, len(chars)])
    rows.append(("Unknown", [render_unknown(rng, size=size, style=style)[0]
                             for _ in range(columns)]))
    incomplete = [c for c in chars if prepared_character(c).n_strokes > 1] or ["安"]
    images = []
    labels = []
    for i in range(columns):
        char = incomplete[i % len(incomplete)]
        image, missing = incomplete_sample(char, rng, size=size, style=style)
        images.append(image)
        labels.append(f"{char}-{missing[0]}")
    rows.append(("missing " + " ".join(labels[:3]), images))
    return rows


def write_contact_sheet(
    out: Path, chars: str, *, columns: int = 8, seed: int = 0, size: int = 96,
    heldout: bool = False,
) -> Path:
    """Render the sheet for ``chars`` to ``out`` (PNG) and return ``out``."""
    if not chars:
        raise ValueError("no characters given for the contact sheet")
    rows = _rows(chars, columns, seed, size, heldout)
    cell = size + GAP
    sheet = Image.new("L", (LABEL_WIDTH + columns * cell, len(rows) * cell), 255)
    draw = ImageDraw.Draw(sheet)
    font = _row_label_font(size)
    for r, (label, images) in enumerate(rows):
        draw.text((4, r * cell + size // 3), label, fill=0, font=font)
        for c, image in enumerate(images):
            sheet.paste(Image.fromarray(image), (LABEL_WIDTH + c * cell, r * cell))
        draw.line((0, r * cell + cell - GAP // 2, sheet.width, r * cell + cell - GAP // 2),
                  fill=200)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


# The demo images in examples/: file stem -> character (pinyin first, as the demo's names do).
EXAMPLE_CHARACTERS = {
    "an": "安", "ni": "你", "hao": "好", "xue": "学",
    "zhong": "中", "guo": "国", "da": "大", "ren": "人",
}


def write_examples(out_dir: Path | str, *, seed: int = 2024, size: int = 96) -> list[Path]:
    """Write the demo images: one handwritten sample per ``EXAMPLE_CHARACTERS`` entry and
    one 安 with a stroke left out (``incomplete-<stroke>-安.png``). Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (pinyin, char) in enumerate(EXAMPLE_CHARACTERS.items()):
        image = render_character(char, np.random.default_rng([seed, i]), size=size)
        path = out / f"{pinyin}-{char}.png"
        Image.fromarray(image).save(path, optimize=True)
        written.append(path)
    image, missing = incomplete_sample("安", np.random.default_rng([seed, len(written)]),
                                       size=size)
    path = out / f"incomplete-{'-'.join(map(str, missing))}-安.png"
    Image.fromarray(image).save(path, optimize=True)
    written.append(path)
    return written
