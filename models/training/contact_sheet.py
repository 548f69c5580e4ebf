"""A contact sheet: a grid of synthetic samples for a person to judge by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hanzi_grader.models.preprocessing import load_image
from hanzi_grader.models.training.brush import render_outline_character
from hanzi_grader.models.training.fonts import (
    HELDOUT_FONTS,
    TRAIN_FONTS,
    available,
    render_font_character,
)
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.labelled import read_labelled
from hanzi_grader.models.training.medians import prepared_character
from hanzi_grader.models.training.samples import incomplete_sample
from hanzi_grader.models.training.synth import render_character
from hanzi_grader.models.training.trajectories import (
    HELDOUT_WRITERS,
    Trajectories,
    render_trajectory,
)
from hanzi_grader.models.training.unknowns import render_unknown
from PIL import Image, ImageDraw, ImageFont

from hanzi_grader.errors import HanziError

LABEL_WIDTH = 150
GAP = 4


def _row_label_font(size: int) -> ImageFont.ImageFont:
    fonts = available(TRAIN_FONTS)
    if not fonts:
        return ImageFont.load_default()
    return ImageFont.truetype(fonts[-1].path, max(12, size // 5), index=fonts[-1].index)


def _fitted(image: np.ndarray, size: int) -> np.ndarray:
    """A grey image scaled so that its longer side is ``size`` (as the renders are)."""
    picture = Image.fromarray(image)
    scale = size / max(picture.size)
    return np.asarray(picture.resize((max(1, round(picture.width * scale)),
                                      max(1, round(picture.height * scale)))))


def _real_rows(
    char: str, columns: int, rng: np.random.Generator, size: int,
    trajectories: Trajectories | None, beside: dict[str, list[np.ndarray]],
) -> list[tuple[str, list[np.ndarray]]]:
    """A row of real writers' renders and a row of the labelled set's images of ``char``."""
    rows = []
    if trajectories is not None and trajectories.count(char):
        rows.append((f"{char} writers", [
            render_trajectory(trajectories.of_class(char, rng), rng, size=size)
            for _ in range(columns)
        ]))
    if beside.get(char):
        rows.append((f"{char} scans", [_fitted(image, size) for image in beside[char][:columns]]))
    return rows


def _rows(
    chars: str, columns: int, seed: int, size: int, heldout: bool,
    trajectories: Trajectories | None = None, beside: dict[str, list[np.ndarray]] | None = None,
) -> list[tuple[str, list[np.ndarray]]]:
    style = HandwritingStyle.stress() if heldout else HandwritingStyle()
    fonts = HELDOUT_FONTS if heldout else TRAIN_FONTS
    rows: list[tuple[str, list[np.ndarray]]] = []
    for r, char in enumerate(chars):
        rng = np.random.default_rng([seed, r])
        rows += _real_rows(char, columns, rng, size, trajectories, beside or {})
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
    heldout: bool = False, trajectory_dir: Path | None = None, beside: Path | None = None,
) -> Path:
    """Render the sheet for ``chars`` to ``out`` (PNG) and return ``out``.

    With ``trajectory_dir`` each character also gets a row of real writers' renders (the
    training writers); with ``beside`` (a labelled set) a row of that set's images of it.
    """
    if not chars:
        raise ValueError("no characters given for the contact sheet")
    trajectories = (Trajectories.load(trajectory_dir, exclude=HELDOUT_WRITERS)
                    if trajectory_dir is not None else None)
    scans: dict[str, list[np.ndarray]] = {}
    for char, image in read_labelled(beside) if beside is not None else []:
        if char in chars:
            try:
                scans.setdefault(char, []).append(np.asarray(load_image(image)))
            except HanziError:
                continue  # an unreadable image is left off the sheet
    rows = _rows(chars, columns, seed, size, heldout, trajectories, scans)
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
