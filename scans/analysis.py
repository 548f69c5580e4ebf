"""One sheet's image side: find its grid, check it against the layout, cut out its cells."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from hanzi_grader.scans.cells import CellImage, Guides, extract_cells
from hanzi_grader.scans.grid import Grid, find_grid
from hanzi_grader.scans.layout import CellSpec, Layout
from hanzi_grader.scans.paper import Page
from PIL import Image

from hanzi_grader.errors import HanziError


class LayoutMismatch(HanziError):
    """The grid on the sheet has other rows or columns than its layout."""


@dataclass
class AnalysedCell:
    """A cell of the layout, where it is on the scan, and its cleaned image."""

    spec: CellSpec
    quad: np.ndarray  # corners in scan pixels: top-left, top-right, bottom-right, bottom-left
    image: CellImage

    @property
    def blank(self) -> bool:
        return self.image.blank

    @property
    def to_grade(self) -> bool:
        """A cell that expects a character, is not a printed model, and has ink."""
        return self.spec.graded and not self.blank

    def png(self) -> bytes:
        """The cleaned cell as PNG bytes: what goes to the recognition queue."""
        buffer = io.BytesIO()
        Image.fromarray(self.image.pixels, "L").save(buffer, format="PNG")
        return buffer.getvalue()


@dataclass
class SheetAnalysis:
    """A sheet's grid and every cell of its layout, in reading order."""

    name: str
    grid: Grid
    guides: Guides
    cells: list[AnalysedCell]

    @property
    def to_grade(self) -> list[AnalysedCell]:
        return [cell for cell in self.cells if cell.to_grade]

    @property
    def blank(self) -> list[AnalysedCell]:
        """Cells that expected a character but hold none."""
        return [cell for cell in self.cells if cell.spec.graded and cell.blank]


def analyse_sheet(page: Page, layout: Layout) -> SheetAnalysis:
    """Find the grid on ``page`` and cut out the cells ``layout`` names.

    Raises GridNotFound (no usable grid) or LayoutMismatch (a grid of another shape), each
    with a message that names the sheet and what was found.
    """
    grid = find_grid(page)
    check_layout(grid, layout, name=page.name)
    images, guides = extract_cells(page, grid, style=layout.grid)
    by_position = {(image.row, image.col): image for image in images}
    cells = [AnalysedCell(spec, grid.quad(spec.row, spec.col), by_position[spec.row, spec.col])
             for spec in layout.cells(grid.columns)]
    return SheetAnalysis(page.name, grid, guides, cells)


def check_layout(grid: Grid, layout: Layout, *, name: str) -> None:
    """LayoutMismatch unless the grid has the layout's rows (and columns, if it names them)."""
    rows_differ = grid.rows != layout.rows
    columns_differ = layout.columns is not None and grid.columns != layout.columns
    if rows_differ or columns_differ:
        raise LayoutMismatch(f"{name}: found a grid of {grid.describe()}, but the layout "
                             f"expects {layout.describe()}")
