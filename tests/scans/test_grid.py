"""Finding the grid: cell boxes on generated scans, and clear failures without a grid."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.producer.sheets.generate import Artefacts
from hanzi_grader.scans.analysis import LayoutMismatch, analyse_sheet
from hanzi_grader.scans.geometry import fit_homography, quad_iou
from hanzi_grader.scans.grid import GridNotFound, find_grid
from hanzi_grader.scans.layout import layout_from_expect
from hanzi_grader.scans.paper import Page

HARSH = Artefacts(rotation=-7.0, perspective=0.02, blur=1.0, noise=10.0, jpeg_quality=40,
                  shadow=0.5, tint=(246, 240, 226))


def box_ious(sheet) -> list[float]:
    grid = find_grid(Page(sheet.image))
    assert (grid.rows, grid.columns) == (sheet.truth["rows"], sheet.truth["columns"])
    return [quad_iou(np.array(c["quad"]), grid.quad(c["row"], c["col"]))
            for c in sheet.truth["cells"]]


@pytest.mark.parametrize(("level", "cell_px", "grid"),
                         [(0.0, 48, "tian"), (0.6, 120, "mi"), (1.0, 64, "square")])
def test_cell_boxes_match_the_truth_across_artefacts(sheet_factory, level, cell_px, grid):
    sheet = sheet_factory(3, level=level, cell_px=cell_px, grid=grid)

    assert min(box_ious(sheet)) >= 0.8


def test_a_rotated_photo_in_uneven_light_still_gives_the_cells(sheet_factory):
    sheet = sheet_factory(5, artefacts=HARSH, cell_px=56)

    assert min(box_ious(sheet)) >= 0.8


def test_a_page_without_a_grid_says_so():
    paper = np.full((600, 800, 3), 245, np.uint8)
    paper[100:110, 100:700] = 40  # a ruled header line is not a grid

    with pytest.raises(GridNotFound, match=r"^blank\.png: no grid found"):
        find_grid(Page(paper, name="blank.png"))


def test_a_grid_with_other_rows_than_the_layout_fails_with_both_counts(sheet_factory):
    sheet = sheet_factory(7, rows=4, level=0.3)
    layout = layout_from_expect("我你好", columns=5)

    with pytest.raises(LayoutMismatch, match=r"s\.png: found a grid of 4 rows x 5 columns, but "
                                             r"the layout expects 3 rows x 5 columns"):
        analyse_sheet(Page(sheet.image, name="s.png"), layout)


def test_homography_fit_recovers_a_known_transform():
    h = np.array([[1.02, 0.05, 12.0], [-0.03, 0.98, 7.0], [1e-5, -2e-5, 1.0]])
    source = np.array([[0, 0], [100, 0], [100, 80], [0, 80], [50, 40]], float)
    target = source @ h[:2, :2].T + h[:2, 2]
    target /= (source @ h[2, :2] + 1)[:, None]

    assert np.allclose(fit_homography(source, target), h, atol=1e-6)
