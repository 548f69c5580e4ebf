"""The class summary: a CSV for spreadsheets and a one-page overview (PNG and PDF)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from hanzi_grader.producer.sheets.annotate import AMBER, GREEN, RED
from hanzi_grader.producer.sheets.collect import SheetResult
from hanzi_grader.producer.sheets.fonts import sans_font
from PIL import Image, ImageDraw

CSV_COLUMNS = ("student", "sheet", "score", "weakest characters", "error", "sheet_id",
               "annotated")
PAGE = (1240, 1754)  # A4 at 150 dots per inch
MARGIN = 70


def write_csv(results: Sequence[SheetResult], path: Path) -> Path:
    """One row per sheet: student, sheet, score (0..1, empty if not graded), weakest
    characters (space-separated, the most missed first), error, sheet id, annotated image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        write_csv_rows(results, handle)
    return path


def write_csv_rows(results: Sequence[SheetResult], handle: TextIO) -> None:
    """``write_csv``'s header and rows, to an open text stream."""
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    for result in results:
        writer.writerow([
            result.student, Path(result.source).name,
            "" if result.score is None else f"{result.score:.4f}",
            " ".join(result.practise), result.error or "", result.sheet_id,
            result.annotated or "",
        ])


def class_weakest(results: Sequence[SheetResult], count: int = 10) -> list[tuple[str, int]]:
    """The characters missed most often across all sheets, with how often; a teacher's
    review counts over the machine's verdict, as in the sheets' scores."""
    misses: Counter[str] = Counter()
    for result in results:
        misses.update(cell.expected for cell in result.cells
                      if cell.expected and cell.counted_verdict != "correct")
    return misses.most_common(count)


def overview(results: Sequence[SheetResult]) -> Image.Image:
    """One A4 page: the class's figures, then a row per sheet with its score and weak points."""
    image = Image.new("RGB", PAGE, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width, height = PAGE
    graded = [r for r in results if r.error is None and r.score is not None]
    mean = sum(r.score for r in graded) / len(graded) if graded else None
    y = MARGIN
    draw.text((MARGIN, y), "Class summary", fill=(20, 20, 20), font=sans_font(44))
    y += 64
    figures = (f"{len(results)} sheets, {len(graded)} graded, "
               f"{len(results) - len(graded)} not graded")
    if mean is not None:
        figures += f"; mean score {mean:.0%}"
    draw.text((MARGIN, y), figures, fill=(60, 60, 60), font=sans_font(26))
    y += 40
    weakest = class_weakest(results)
    if weakest:
        missed = "  ".join(f"{char} ×{n}" for char, n in weakest)
        draw.text((MARGIN, y), f"Most missed: {missed}", fill=(60, 60, 60), font=sans_font(26))
        y += 40
    y += 20
    rows = list(results)
    row_height = max(20, min(56, (height - MARGIN - y - 40) // max(1, len(rows))))
    fitting = (height - MARGIN - y - 40) // row_height
    font = sans_font(int(row_height * 0.55))
    columns = (MARGIN, MARGIN + 260, MARGIN + 560, MARGIN + 820)
    for x, title in zip(columns, ("student", "sheet", "score", "practise"), strict=True):
        draw.text((x, y), title, fill=(120, 120, 120), font=sans_font(22))
    y += 32
    for index, result in enumerate(rows[:fitting]):
        if index % 2:
            draw.rectangle([MARGIN - 10, y, width - MARGIN + 10, y + row_height - 1],
                           fill=(245, 245, 245))
        middle = y + row_height / 2
        draw.text((columns[0], middle), _fit(result.student, 16), fill=(20, 20, 20), font=font,
                  anchor="lm")
        draw.text((columns[1], middle), _fit(Path(result.source).name, 20), fill=(20, 20, 20),
                  font=font, anchor="lm")
        if result.error is not None or result.score is None:
            reason = _fit_width(draw, f"not graded: {result.reason or 'no cells to grade'}",
                                font, width - MARGIN - columns[2])
            draw.text((columns[2], middle), reason, fill=RED, font=font, anchor="lm")
        else:
            _score_bar(draw, columns[2], middle, row_height, result.score, font)
            draw.text((columns[3], middle), " ".join(result.practise), fill=(20, 20, 20),
                      font=font, anchor="lm")
        y += row_height
    if len(rows) > fitting:
        draw.text((MARGIN, y + 8), f"... and {len(rows) - fitting} more sheets (summary.csv)",
                  fill=(120, 120, 120), font=sans_font(22))
    return image


def write_overview(results: Sequence[SheetResult], folder: Path) -> tuple[Path, Path]:
    """``overview.png`` and ``overview.pdf`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    page = overview(results)
    png, pdf = folder / "overview.png", folder / "overview.pdf"
    page.save(png, format="PNG")
    page.save(pdf, format="PDF", resolution=150.0)
    return png, pdf


def _score_bar(draw: ImageDraw.ImageDraw, x: int, middle: float, row_height: int, score: float,
               font) -> None:
    length, thick = 150, max(6, row_height // 3)
    colour = GREEN if score >= 0.8 else AMBER if score >= 0.5 else RED
    draw.rectangle([x, middle - thick / 2, x + length, middle + thick / 2], fill=(225, 225, 225))
    draw.rectangle([x, middle - thick / 2, x + length * score, middle + thick / 2], fill=colour)
    draw.text((x + length + 12, middle), f"{score:.0%}", fill=(20, 20, 20), font=font,
              anchor="lm")


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit_width(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
