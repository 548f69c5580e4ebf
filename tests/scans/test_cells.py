"""Cells: guides found and removed without eating strokes, blank cells told apart."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.scans.analysis import analyse_sheet
from hanzi_grader.scans.cells import (
    Guides,
    darkness_to_pixels,
    remove_guides,
    stretch_faint_ink,
)
from hanzi_grader.scans.layout import layout_from_dict
from hanzi_grader.scans.paper import Page

from hanzi_grader.errors import InvalidImage

KINDS = {(0, 1): "blank", (1, 3): "blank", (2, 2): "blank", (0, 2): "correct",
         (1, 1): "wrong_character", (2, 4): "incomplete"}


def analysed(sheet):
    return analyse_sheet(Page(sheet.image), layout_from_dict(sheet.truth["layout"]))


@pytest.mark.parametrize("grid", ["tian", "mi", "square"])
def test_blank_cells_and_written_cells_are_told_apart(sheet_factory, grid):
    sheet = sheet_factory(11, rows=3, grid=grid, level=0.5, kinds=KINDS, models=(0,))

    analysis = analysed(sheet)

    truth = {(c["row"], c["col"]): c["kind"] for c in sheet.truth["cells"]}
    assert analysis.guides.style == grid
    for cell in analysis.cells:
        kind = truth[cell.spec.row, cell.spec.col]
        if kind != "model":
            assert cell.blank == (kind == "blank"), (cell.spec, kind, cell.image.ink_share)
    assert {(c.spec.row, c.spec.col) for c in analysis.blank} >= {(0, 1), (1, 3), (2, 2)}
    assert all(not c.spec.model for c in analysis.to_grade)


def test_removing_guides_keeps_a_stroke_that_crosses_them():
    side = 64
    patch = np.zeros((side + 1, side + 1), np.float32)
    patch[32, ::2] = 0.5  # a dashed horizontal guide
    patch[:, 32] = 0.5  # a vertical guide
    patch[10:55, 20:23] = 0.9  # a vertical pen stroke crossing the horizontal guide
    guides = Guides(style="tian", centre=(32.0, 32.0), half_width=1, level=0.5, border=3)

    clean = remove_guides(patch, guides)

    assert clean[32, 40:60].max() < 0.05  # the guide is gone
    assert clean[20:45, 32].max() < 0.05
    assert clean[31:34, 20:23].min() > 0.8  # the stroke is whole where it crossed


def test_faint_pencil_in_a_written_cell_is_stretched_so_preprocessing_finds_it():
    rng = np.random.default_rng(3)
    inner = (0.04 + 0.01 * rng.standard_normal((60, 60))).astype(np.float32)
    ink = np.zeros_like(inner, dtype=bool)
    ink[10:50, 28:32] = ink[28:32, 12:48] = True  # a faint cross: 十, about 25 grey levels
    inner[ink] += 0.1
    with pytest.raises(InvalidImage, match="flat"):
        preprocess(darkness_to_pixels(inner), 48)

    stretched = stretch_faint_ink(inner, ink)

    image = preprocess(darkness_to_pixels(stretched), 48)[..., 0]
    assert image[22:26, :].mean() > 0.3 and image[:, 22:26].mean() > 0.3  # the cross's bars
    assert image[5:15, 5:15].max() < 0.2  # paper noise stays dark after inversion


def test_ink_that_stands_out_is_left_as_it_is():
    inner = np.full((60, 60), 0.05, np.float32)
    ink = np.zeros_like(inner, dtype=bool)
    ink[10:50, 28:32] = True
    inner[ink] = 0.8

    assert stretch_faint_ink(inner, ink) is inner


def test_cells_are_sent_as_clean_dark_on_white_images(sheet_factory):
    sheet = sheet_factory(13, rows=2, level=0.8, kinds={(0, 0): "correct", (1, 0): "blank"})

    analysis = analysed(sheet)

    written = next(c for c in analysis.cells if (c.spec.row, c.spec.col) == (0, 0))
    blank = next(c for c in analysis.cells if (c.spec.row, c.spec.col) == (1, 0))
    assert written.png().startswith(b"\x89PNG")
    assert np.median(written.image.pixels) > 200 and written.image.pixels.min() < 120
    assert np.percentile(blank.image.pixels, 1) > 180  # no line or shadow left in a blank
