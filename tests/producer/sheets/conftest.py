"""Fixtures for the sheet tests: generated sheets (they need the real stroke data)."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.producer.sheets.generate import (
    Artefacts,
    GeneratedSheet,
    SheetDesign,
    generate_sheet,
)
from hanzi_grader.scans.layout import layout_from_dict

from tests.training.conftest import stroke_data  # noqa: F401  (the shared fixture)

EXPECT = "我你好他们"


def make_sheet(seed: int, *, level: float = 0.5, rows: int = 4, columns: int = 5,
               cell_px: int = 64, grid: str = "tian", expect: str = EXPECT,
               kinds: dict | None = None, artefacts: Artefacts | None = None,
               models: tuple[int, ...] = ()) -> GeneratedSheet:
    """A generated practice sheet: ``rows`` of ``expect``'s characters, ``columns`` cells each."""
    layout = layout_from_dict({"expect": expect[:rows], "columns": columns, "grid": grid,
                               "model_columns": list(models)})
    rng = np.random.default_rng(seed)
    design = SheetDesign(cell_px=cell_px, grid=grid, grid_colour="black")
    return generate_sheet(rng, layout=layout, design=design, level=level, kinds=kinds,
                          artefacts=artefacts)


@pytest.fixture(scope="session")
def sheet_factory(stroke_data):  # noqa: F811
    """``sheet_factory(seed, **options)`` -> a GeneratedSheet (see ``make_sheet``)."""
    return make_sheet
