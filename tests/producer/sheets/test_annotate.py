"""Annotated sheets and the class summary: colours that say the verdicts, CSV and overview."""

from __future__ import annotations

import csv

import numpy as np
from hanzi_grader.producer.sheets.annotate import (
    VERDICT_COLOURS,
    annotate,
    header_height,
    inset_quad,
    outline_middle,
    outline_width,
)
from hanzi_grader.producer.sheets.collect import CellResult, SheetResult
from hanzi_grader.producer.sheets.summary import write_csv, write_overview
from hanzi_grader.scans.analysis import analyse_sheet
from hanzi_grader.scans.layout import layout_from_dict
from hanzi_grader.scans.paper import Page
from PIL import Image

VERDICTS = ["correct", "wrong_character", "incomplete_or_unclear", "blank", "unknown", "failed"]


def outline_colours(image: Image.Image, quad: np.ndarray, pitch: float, header: int) -> list:
    """The colours at the middle of each side of a cell's outline."""
    pixels = np.asarray(image)
    inner = outline_middle(quad, pitch)
    middles = (inner + np.roll(inner, -1, axis=0)) / 2
    return [tuple(int(v) for v in pixels[round(y) + header, round(x)]) for x, y in middles]


def test_each_cell_is_outlined_in_its_verdicts_colour(sheet_factory):
    sheet = sheet_factory(31, rows=3, level=0.6, models=(0,))
    analysis = analyse_sheet(Page(sheet.image), layout_from_dict(sheet.truth["layout"]))
    graded = [c for c in analysis.cells if c.spec.graded]
    cells = [CellResult(c.spec.row, c.spec.col, c.spec.expected, VERDICTS[i % len(VERDICTS)],
                        predicted="水") for i, c in enumerate(graded)]
    result = SheetResult("s1_week3.png", "s1", "sheet-x", score=0.25, cells=cells,
                         practise=["我", "你"])

    image = annotate(sheet.image, analysis, result)

    header = header_height(sheet.image.shape[1])
    assert image.size[0] == sheet.image.shape[1]
    assert image.size[1] >= sheet.image.shape[0] + header  # the legend may go below
    for cell, outcome in zip(graded, cells, strict=True):
        colours = outline_colours(image, cell.quad, analysis.grid.pitch, header)
        assert colours == [VERDICT_COLOURS[outcome.verdict]] * 4, (cell.spec, outcome.verdict)
    model = next(c for c in analysis.cells if c.spec.model)
    assert VERDICT_COLOURS["correct"] not in outline_colours(image, model.quad,
                                                             analysis.grid.pitch, header)


def test_a_reviewed_cell_takes_the_teachers_colour_and_counts_in_the_header(sheet_factory):
    # Given two cells the machine called wrong, one of which a teacher marked correct
    sheet = sheet_factory(32, rows=1, columns=2)
    analysis = analyse_sheet(Page(sheet.image), layout_from_dict(sheet.truth["layout"]))
    first, second = [c for c in analysis.cells if c.spec.graded]
    review = {"verdict": "correct", "note": None, "reviewer": "t/hzk_x", "at": None}
    cells = [CellResult(c.spec.row, c.spec.col, c.spec.expected, "wrong_character",
                        predicted="水", review=review if c is first else None)
             for c in (first, second)]
    result = SheetResult("s.png", "s", "sheet-r", score=0.5, cells=cells)

    image = annotate(sheet.image, analysis, result)

    # Then the reviewed cell is green, the other still red, and one of two counts as correct
    header = header_height(sheet.image.shape[1])
    pitch = analysis.grid.pitch
    assert outline_colours(image, first.quad, pitch, header) == [VERDICT_COLOURS["correct"]] * 4
    assert outline_colours(image, second.quad, pitch, header) == [
        VERDICT_COLOURS["wrong_character"]] * 4
    assert result.correct == 1


def test_a_sheet_that_failed_still_gets_an_image_saying_why():
    result = SheetResult("b.png", "s2", "sheet-y", error="b.png: no grid found (none at all)")

    image = annotate(np.full((300, 400, 3), 250, np.uint8), None, result)

    header = np.asarray(image)[: header_height(400)]
    assert (header == VERDICT_COLOURS["wrong_character"]).all(axis=2).any()  # red text


def test_summary_csv_and_overview(tmp_path):
    results = [
        SheetResult("in/s1_a.png", "s1", "sheet-1", score=0.5, practise=["我", "你"],
                    cells=[CellResult(0, 0, "我", "wrong_character")]),
        SheetResult("in/s2_b.png", "s2", "sheet-2", error="in/s2_b.png: no grid found"),
    ]

    path = write_csv(results, tmp_path / "summary.csv")
    png, pdf = write_overview(results, tmp_path)

    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [(r["student"], r["sheet"], r["score"], r["weakest characters"]) for r in rows] == [
        ("s1", "s1_a.png", "0.5000", "我 你"), ("s2", "s2_b.png", "", "")]
    assert rows[1]["error"] == "in/s2_b.png: no grid found"
    assert Image.open(png).size == (1240, 1754)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_a_named_missing_stroke_is_drawn_inside_its_cell_in_amber(sheet_factory):
    sheet = sheet_factory(31, rows=3, level=0.6, models=(0,))
    analysis = analyse_sheet(Page(sheet.image), layout_from_dict(sheet.truth["layout"]))
    written = [c for c in analysis.cells if c.spec.graded and not c.blank][:2]
    named, unnamed = written
    cells = [CellResult(c.spec.row, c.spec.col, c.spec.expected, "incomplete_or_unclear",
                        missing_stroke={"index": 0, "kind": "横", "confidence": 0.9} if c is named
                        else None) for c in written]
    result = SheetResult("s1_week3.png", "s1", "sheet-x", score=0.0, cells=cells)

    image = np.asarray(annotate(sheet.image, analysis, result))

    header = header_height(sheet.image.shape[1])

    def amber_inside(cell) -> int:
        # Inside the outline band: only the drawn stroke can be amber there.
        x0, y0 = inset_quad(cell.quad, 3 * outline_width(analysis.grid.pitch)).min(axis=0)
        x1, y1 = inset_quad(cell.quad, 3 * outline_width(analysis.grid.pitch)).max(axis=0)
        patch = image[round(y0) + header:round(y1) + header, round(x0):round(x1)]
        return int((patch == VERDICT_COLOURS["incomplete_or_unclear"]).all(axis=2).sum())

    assert amber_inside(named) > 0
    assert amber_inside(unnamed) == 0


def test_the_missing_stroke_lands_where_the_rest_of_the_character_puts_it(stroke_data):
    from hanzi_grader.models.training.strokes import BOX_SIZE, Y_TOP
    from hanzi_grader.producer.sheets.strokes import stroke_in_cell
    from PIL import ImageDraw

    # Given 我 drawn from its medians small and off-centre in a cell, stroke 3 left out
    char, missing, scale, offset = "我", 3, 60.0, np.array([30.0, 12.0])
    medians = [np.asarray(m, float) / BOX_SIZE * [1, -1] + [0, Y_TOP / BOX_SIZE]
               for m in stroke_data.medians(char)]
    cell = Image.new("L", (100, 100), 255)
    draw = ImageDraw.Draw(cell)
    for index, median in enumerate(medians):
        if index != missing:
            draw.line([tuple(p) for p in median * scale + offset], fill=0, width=1)

    # Then the stroke is placed where it would have been written, within two pixels
    found = stroke_in_cell(char, missing, np.asarray(cell))
    np.testing.assert_allclose(found, medians[missing] * scale + offset, atol=2.0)
