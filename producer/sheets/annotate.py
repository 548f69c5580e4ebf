"""The annotated sheet: each cell outlined in its verdict's colour, the score in a header.

Green for correct, red for a wrong character (with the model's best guess written in the
cell's corner), amber for incomplete, unclear or unreadable, grey for blank. A missing stroke
the verifier named is drawn where it belongs, dashed, in the cell's amber. Printed model
cells are left as they are. Each outline is drawn just inside its own cell, so neighbours never
paint over each other and a cell's colour can be read back from the image. A cell a teacher
reviewed takes the colour of their verdict, as the score in the header counts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hanzi_grader.producer.sheets.collect import CellResult, SheetResult
from hanzi_grader.producer.sheets.fonts import sans_font
from hanzi_grader.producer.sheets.strokes import cell_to_scan, draw_dashed, stroke_in_cell
from hanzi_grader.scans.analysis import AnalysedCell, SheetAnalysis
from PIL import Image, ImageDraw

GREEN, RED, AMBER, GREY = (0, 160, 70), (215, 30, 30), (240, 150, 0), (140, 140, 140)
VERDICT_COLOURS = {
    "correct": GREEN,
    "wrong_character": RED,
    "incomplete_or_unclear": AMBER,
    "unknown": AMBER,
    "failed": AMBER,
    "blank": GREY,
}
LEGEND = (("correct", GREEN), ("wrong", RED), ("unclear", AMBER), ("blank", GREY))


def outline_width(pitch: float) -> int:
    return max(3, round(pitch / 22))


def outline_middle(quad: np.ndarray, pitch: float) -> np.ndarray:
    """Where a cell's outline runs: the quad its band is centred on (for reading it back)."""
    return inset_quad(quad, 1 + outline_width(pitch) / 2)


def inset_quad(quad: np.ndarray, inset: float) -> np.ndarray:
    """``quad`` shrunk towards its centre by about ``inset`` pixels on every side."""
    centre = quad.mean(axis=0)
    radius = np.hypot(*(quad - centre).T).mean()
    scale = max(0.1, 1.0 - inset * np.sqrt(2) / max(radius, 1e-6))
    return centre + (quad - centre) * scale


def header_height(width: int) -> int:
    """The height of the header band above a scan ``width`` pixels wide."""
    return max(48, round(0.07 * width))


def annotate(scan: np.ndarray, analysis: SheetAnalysis | None, result: SheetResult) -> Image.Image:
    """The scan (RGB array) with each graded cell outlined and a header with the score."""
    height, width = scan.shape[:2]
    header = header_height(width)
    # A scan too narrow for the legend beside the header gets it below the scan, in as many
    # rows as it needs.
    per_row = _legend_per_row(width, header)
    rows = 0 if width > 3 * _legend_width(header) else -(-len(LEGEND) // per_row)
    line = round(header * 0.5)
    image = Image.new("RGB", (width, height + header + rows * line), (255, 255, 255))
    image.paste(Image.fromarray(scan, "RGB"), (0, header))
    draw = ImageDraw.Draw(image)
    _draw_header(draw, result, width, header)
    for row in range(rows):
        entries = LEGEND[row * per_row:(row + 1) * per_row]
        _draw_legend(draw, 6, height + header + (row + 0.5) * line, header, entries)
    if analysis is None:
        return image
    pitch = analysis.grid.pitch
    line = outline_width(pitch)
    guess_font = sans_font(max(12, round(pitch * 0.3)))
    by_cell = {(c.row, c.col): c for c in result.cells}
    shift = np.array([0.0, header])
    for cell in analysis.cells:
        outcome = by_cell.get((cell.spec.row, cell.spec.col))
        if outcome is None:
            continue
        # A teacher's review wins here as in the score printed above the page.
        verdict = outcome.counted_verdict
        colour = VERDICT_COLOURS.get(verdict, AMBER)
        _outline(draw, cell.quad + shift, line, colour)
        if (verdict == "wrong_character" and outcome.predicted
                and outcome.predicted != outcome.expected):
            _write_guess(draw, outcome.predicted, cell.quad + shift, line, guess_font)
        if outcome.missing_stroke and outcome.expected and verdict == "incomplete_or_unclear":
            _draw_missing_stroke(draw, cell, outcome, analysis, shift, colour)
    return image


def write_annotated(path: Path, scan: np.ndarray, analysis: SheetAnalysis | None,
                    result: SheetResult) -> Path:
    """Write the annotated sheet as PNG at ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    annotate(scan, analysis, result).save(path, format="PNG", optimize=False)
    return path


def _draw_header(draw: ImageDraw.ImageDraw, result: SheetResult, width: int,
                 header: int) -> None:
    name = Path(result.source).name
    if result.error is not None:
        lines, colour = [f"{result.student} · {name}", f"not graded: {result.reason}"], RED
    else:
        score = "—" if result.score is None else f"{result.score:.0%}"
        written = sum(c.verdict != "blank" for c in result.cells)
        lines = [f"{result.student} · {name} · score {score}",
                 f"{result.correct}/{len(result.cells)} correct, {written} written"]
        if result.practise:
            lines[1] += " · practise " + " ".join(result.practise)
        colour = (20, 20, 20)
    draw.rectangle([0, 0, width, header - 1], fill=(250, 250, 250))
    draw.line([0, header - 1, width, header - 1], fill=(180, 180, 180), width=1)
    legend = _legend_width(header)
    beside = width > 3 * legend
    room = width - 12 - (legend if beside else 0)
    size = max(8, round(header * 0.34))
    while size > 8 and max(draw.textlength(t, font=sans_font(size)) for t in lines) > room:
        size -= 1
    font = sans_font(size)
    for index, text in enumerate(lines):
        y = header * (0.3 if index == 0 else 0.72)
        draw.text((6, y), text, fill=colour, font=font, anchor="lm")
    if beside:
        _draw_legend(draw, width - legend - 6, header / 2, header)


def _legend_width(header: int) -> float:
    font = sans_font(max(10, round(header * 0.24)))
    return sum(font.getlength(label) + header * 0.45 for label, _ in LEGEND)


def _legend_per_row(width: int, header: int) -> int:
    font = sans_font(max(10, round(header * 0.24)))
    widest = max(font.getlength(label) for label, _ in LEGEND) + header * 0.45
    return max(1, min(len(LEGEND), int((width - 12) // widest)))


def _draw_legend(draw: ImageDraw.ImageDraw, x: float, middle: float, header: int,
                 entries: tuple = LEGEND) -> None:
    """The colour key's ``entries``, starting at ``x``, centred on the line ``middle``."""
    size = max(10, round(header * 0.24))
    font = sans_font(size)
    for label, swatch in entries:
        draw.rectangle([x, middle - size / 2, x + size, middle + size / 2], fill=swatch)
        draw.text((x + size * 1.3, middle), label, fill=(60, 60, 60), font=font, anchor="lm")
        x += font.getlength(label) + header * 0.45


def _outline(draw: ImageDraw.ImageDraw, quad: np.ndarray, line: int,
             colour: tuple[int, int, int]) -> None:
    """A band ``line`` pixels wide just inside ``quad``, drawn as four filled strips (exact,
    where Pillow's wide lines drift by a pixel on slanted sides)."""
    outer, inner = inset_quad(quad, 1), inset_quad(quad, 1 + line)
    for i in range(4):
        j = (i + 1) % 4
        draw.polygon([tuple(outer[i]), tuple(outer[j]), tuple(inner[j]), tuple(inner[i])],
                     fill=colour)


def _draw_missing_stroke(draw: ImageDraw.ImageDraw, cell: AnalysedCell, outcome: CellResult,
                         analysis: SheetAnalysis, shift: np.ndarray,
                         colour: tuple[int, int, int]) -> None:
    """The named missing stroke's median where it belongs in the cell, dashed (nothing
    without the stroke data for it)."""
    from hanzi_grader.scans.cells import cell_side

    index = int(outcome.missing_stroke.get("index", -1))
    points = stroke_in_cell(outcome.expected, index, cell.image.pixels)
    if points is None:
        return
    pitch = analysis.grid.pitch
    on_scan = cell_to_scan(points, cell.quad, cell_side(analysis.grid),
                           analysis.guides.border) + shift
    draw_dashed(draw, on_scan, colour, width=max(2, round(pitch / 30)), dash=max(3.0, pitch / 14))


def _write_guess(draw: ImageDraw.ImageDraw, guess: str, quad: np.ndarray, line: int,
                 font) -> None:
    """The model's best guess in the cell's top-right corner, on a white patch."""
    top_right = quad[1]
    size = font.size if hasattr(font, "size") else 12
    x, y = top_right[0] - line - 2 - size, top_right[1] + line + 2
    draw.rectangle([x - 1, y - 1, x + size + 1, y + size + 1], fill=(255, 255, 255))
    draw.text((x + size / 2, y + size / 2), guess, fill=RED, font=font, anchor="mm")
