"""Layout specs: the per-row and per-cell kinds, files, and errors that say what is wrong."""

from __future__ import annotations

import json

import pytest
from hanzi_grader.scans.layout import (
    CellSpec,
    LayoutError,
    layout_from_dict,
    layout_from_expect,
    load_layout,
)


def test_expect_fills_rows_in_order_and_models_are_skipped():
    layout = layout_from_expect("我你好", columns=3, model_columns=[0])

    cells = layout.cells()

    assert layout.rows == 3 and layout.columns == 3
    assert cells[0] == CellSpec(0, 0, "我", model=True)
    assert cells[1] == CellSpec(0, 1, "我") and cells[1].graded
    assert [c.expected for c in cells if c.row == 2] == ["好"] * 3
    assert sum(c.graded for c in cells) == 6


def test_expect_without_columns_takes_the_grids():
    layout = layout_from_expect("我 你")  # spaces between characters are for the reader

    assert layout.rows == 2 and layout.columns is None
    assert len(layout.cells(7)) == 14
    with pytest.raises(LayoutError, match="no column count"):
        layout.cells()


def test_a_dictation_sheet_expects_its_own_character_in_each_cell(tmp_path):
    path = tmp_path / "dictation.toml"
    path.write_text('grid = "mi"\ncells = ["天地人", "你我."]\nmodel_cells = [[0, 0]]\n',
                    encoding="utf-8")

    layout = load_layout(path)

    assert (layout.rows, layout.columns, layout.grid) == (2, 3, "mi")
    expected = {(c.row, c.col): (c.expected, c.graded) for c in layout.cells()}
    assert expected[0, 0] == ("天", False)  # a printed model
    assert expected[0, 2] == ("人", True)
    assert expected[1, 2] == (None, False)  # "." : nothing to grade


def test_json_files_and_round_trips(tmp_path):
    spec = {"expect": "我你", "columns": 4, "model_columns": [0], "grid": "tian"}
    path = tmp_path / "layout.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")

    layout = load_layout(path)

    assert layout_from_dict(layout.to_dict()) == layout


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"expect": "我你", "colums": 4}, r"unknown setting\(s\) colums"),
        ({"columns": 4}, "exactly one of 'expect'"),
        ({"expect": "我", "cells": ["我"]}, "exactly one of 'expect'"),
        ({"expect": "我A"}, r"row 1: 'A' \(U\+0041\) is not one of the 3755"),
        ({"expect": "我你", "rows": 3}, "rows = 3 but expect has 2 characters"),
        ({"expect": "我", "grid": "hex"}, "grid must be one of auto, tian, mi, square"),
        ({"expect": "我", "columns": 0}, "columns must be a whole number 1..64, got 0"),
        ({"cells": ["我你", "好"]}, r"rows of cells differ in length \(\[1, 2\]\)"),
        ({"cells": ["我你"], "columns": 3}, "columns = 3 but each row of cells has 2"),
        ({"expect": "我", "columns": 2, "model_columns": [2]}, "go beyond the 2 columns"),
        ({"expect": "我", "model_cells": [[1, 0]]}, r"model cell \[1, 0\] is outside"),
        ({"expect": ""}, "expect must be a non-empty string"),
        ([1, 2], "must be a table of settings, got list"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, says):
    with pytest.raises(LayoutError, match=says):
        layout_from_dict(spec, where="layout.toml")


def test_bad_files_are_named(tmp_path):
    with pytest.raises(LayoutError, match=r"cannot read layout file .*missing\.toml"):
        load_layout(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('expect = "我\n', encoding="utf-8")
    with pytest.raises(LayoutError, match=r"broken\.toml' is not valid TOML"):
        load_layout(broken)
