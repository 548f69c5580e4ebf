"""The sheet layout: which character each cell expects, and which cells to skip.

A layout is a small declarative spec, written as TOML or JSON::

    # practice sheet: one character per row, the first cell of each row a printed model
    expect = "我你好他们是"    # row i expects expect[i]; rows defaults to its length
    columns = 8                # optional: taken from the grid when absent
    grid = "tian"              # tian (田字格), mi (米字格), square or auto (the default)
    model_columns = [0]        # columns that hold a printed model in every row
    model_cells = [[5, 7]]     # and single cells that do

    # dictation sheet: each cell its own character; "." marks a cell that is not graded
    cells = ["天地人你我", "他上下大.", "....."]

On the command line, ``--expect CHARS`` makes the per-row kind (``layout_from_expect``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hanzi_grader.models.charset import is_known

from hanzi_grader.errors import HanziError

GRID_STYLES = ("auto", "tian", "mi", "square")
NOT_GRADED = frozenset(".·_ 　")  # cell markers in ``cells`` rows for "nothing expected here"
KEYS = {"rows", "columns", "grid", "expect", "cells", "model_columns", "model_cells"}
MAX_SIDE = 64  # rows or columns: a bigger grid is a typo, not a worksheet


class LayoutError(HanziError):
    """A layout spec that cannot be used; the message names the file and the value."""


@dataclass(frozen=True)
class CellSpec:
    """What one cell should hold."""

    row: int
    col: int
    expected: str | None  # None: nothing to grade here
    model: bool = False  # a printed model character: skipped

    @property
    def graded(self) -> bool:
        return self.expected is not None and not self.model


@dataclass(frozen=True)
class Layout:
    """A sheet's rows and columns, the expected characters, the model cells, the grid style.

    Exactly one of ``row_chars`` (per-row sheets) and ``cell_chars`` (dictation sheets) is set.
    ``columns`` is None when the grid decides it (per-row sheets only).
    """

    rows: int
    columns: int | None = None
    row_chars: str | None = None
    cell_chars: tuple[tuple[str | None, ...], ...] | None = None
    grid: str = "auto"
    model_columns: frozenset[int] = frozenset()
    model_cells: frozenset[tuple[int, int]] = frozenset()

    def cells(self, columns: int | None = None) -> list[CellSpec]:
        """Every cell in reading order; ``columns`` is the grid's when the layout has none."""
        columns = self.columns or columns
        if columns is None:
            raise LayoutError("the layout names no column count and no grid gave one")
        specs = []
        for row in range(self.rows):
            for col in range(columns):
                if self.cell_chars is not None:
                    expected = self.cell_chars[row][col]
                else:
                    expected = self.row_chars[row] if self.row_chars else None
                model = col in self.model_columns or (row, col) in self.model_cells
                specs.append(CellSpec(row, col, expected, model))
        return specs

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data; ``layout_from_dict`` reads it back."""
        data: dict[str, Any] = {"rows": self.rows, "grid": self.grid}
        if self.columns is not None:
            data["columns"] = self.columns
        if self.row_chars is not None:
            data["expect"] = self.row_chars
        if self.cell_chars is not None:
            data["cells"] = ["".join(c or "." for c in row) for row in self.cell_chars]
        if self.model_columns:
            data["model_columns"] = sorted(self.model_columns)
        if self.model_cells:
            data["model_cells"] = [list(cell) for cell in sorted(self.model_cells)]
        return data

    def describe(self) -> str:
        if self.columns is None:
            return f"{self.rows} rows"
        return f"{self.rows} rows x {self.columns} columns"


def load_layout(path: Path | str) -> Layout:
    """Read a layout file (``.toml`` or ``.json``); LayoutError says what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LayoutError(f"cannot read layout file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise LayoutError(f"layout file {str(path)!r} is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise LayoutError(f"layout file {str(path)!r} is not valid {kind}: {error}") from None
    return layout_from_dict(data, where=f"layout file {str(path)!r}")


def layout_from_expect(
    chars: str,
    *,
    columns: int | None = None,
    grid: str = "auto",
    model_columns: Iterable[int] = (),
) -> Layout:
    """The per-row layout of ``--expect CHARS``: row i expects ``chars[i]``."""
    data: dict[str, Any] = {"expect": chars, "grid": grid, "model_columns": list(model_columns)}
    if columns is not None:
        data["columns"] = columns
    return layout_from_dict(data, where="--expect")


def layout_from_dict(data: Any, *, where: str = "layout") -> Layout:
    """Validate a parsed spec (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise LayoutError(f"{where}: must be a table of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise LayoutError(f"{where}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(KEYS))}")
    if ("expect" in data) == ("cells" in data):
        raise LayoutError(f"{where}: give exactly one of 'expect' (a character per row) and "
                          f"'cells' (a character per cell)")
    grid = data.get("grid", "auto")
    if grid not in GRID_STYLES:
        raise LayoutError(f"{where}: grid must be one of {', '.join(GRID_STYLES)}, got {grid!r}")
    columns = _optional_count(data.get("columns"), "columns", where)
    if "expect" in data:
        row_chars = _row_chars(data["expect"], where)
        rows = _optional_count(data.get("rows"), "rows", where) or len(row_chars)
        if rows != len(row_chars):
            raise LayoutError(f"{where}: rows = {rows} but expect has {len(row_chars)} "
                              f"characters ({row_chars!r})")
        cell_chars = None
    else:
        cell_chars = _cell_chars(data["cells"], where)
        row_chars = None
        rows = _optional_count(data.get("rows"), "rows", where) or len(cell_chars)
        widths = {len(row) for row in cell_chars}
        if rows != len(cell_chars):
            raise LayoutError(f"{where}: rows = {rows} but cells has {len(cell_chars)} rows")
        if len(widths) != 1:
            raise LayoutError(f"{where}: the rows of cells differ in length "
                              f"({sorted(widths)}); pad with '.' for cells not graded")
        width = widths.pop()
        if columns is not None and columns != width:
            raise LayoutError(f"{where}: columns = {columns} but each row of cells has {width}")
        columns = width
    model_columns = _model_columns(data.get("model_columns", []), columns, where)
    model_cells = _model_cells(data.get("model_cells", []), rows, columns, where)
    return Layout(rows=rows, columns=columns, row_chars=row_chars, cell_chars=cell_chars,
                  grid=grid, model_columns=model_columns, model_cells=model_cells)


def _optional_count(value: Any, name: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise LayoutError(f"{where}: {name} must be a whole number 1..{MAX_SIDE}, got {value!r}")
    return value


def _row_chars(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LayoutError(f"{where}: expect must be a non-empty string of characters, "
                          f"got {value!r}")
    chars = "".join(value.split())  # spaces between characters are for the reader
    if len(chars) > MAX_SIDE:
        raise LayoutError(f"{where}: expect has {len(chars)} characters, over {MAX_SIDE} rows")
    for row, char in enumerate(chars):
        _check_char(char, f"{where}: row {row}", where)
    return chars


def _cell_chars(value: Any, where: str) -> tuple[tuple[str | None, ...], ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(row, str) and row for row in value)):
        raise LayoutError(f"{where}: cells must be a non-empty list of non-empty strings (one "
                          f"per row), got {value!r}")
    if len(value) > MAX_SIDE:
        raise LayoutError(f"{where}: cells has {len(value)} rows, over {MAX_SIDE}")
    rows = []
    for r, text in enumerate(value):
        row = []
        for c, char in enumerate(text):
            if char in NOT_GRADED:
                row.append(None)
            else:
                _check_char(char, f"{where}: cell ({r}, {c})", where)
                row.append(char)
        rows.append(tuple(row))
    return tuple(rows)


def _check_char(char: str, what: str, where: str) -> None:
    if not is_known(char):
        raise LayoutError(f"{what}: {char!r} (U+{ord(char):04X}) is not one of the 3755 GB2312 "
                          f"level-1 characters the models know")


def _model_columns(value: Any, columns: int | None, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(_is_index(v) for v in value):
        raise LayoutError(f"{where}: model_columns must be a list of column numbers from 0, "
                          f"got {value!r}")
    if columns is not None and any(v >= columns for v in value):
        raise LayoutError(f"{where}: model_columns {value!r} go beyond the {columns} columns")
    return frozenset(value)


def _model_cells(value: Any, rows: int, columns: int | None,
                 where: str) -> frozenset[tuple[int, int]]:
    if not isinstance(value, list) or not all(
        isinstance(v, list | tuple) and len(v) == 2 and all(_is_index(i) for i in v)
        for v in value
    ):
        raise LayoutError(f"{where}: model_cells must be a list of [row, column] pairs from 0, "
                          f"got {value!r}")
    for row, col in value:
        if row >= rows or (columns is not None and col >= columns):
            raise LayoutError(f"{where}: model cell [{row}, {col}] is outside the "
                              f"{rows} x {columns if columns is not None else '?'} grid")
    return frozenset((int(r), int(c)) for r, c in value)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SIDE
