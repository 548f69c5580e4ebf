"""Annotated sheets and the class summary: colours that say the verdicts, CSV and overview."""

from __future__ import annotations

import csv

import numpy as np
from hanzi_grader.producer.sheets.annotate import (
    VERDICT_COLOURS,
    annotate,
    header_height,
    outline_middle,
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
