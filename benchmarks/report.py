"""Printing a benchmark's figures: a table for people, one JSON object for machines."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with a title line, right-aligned numbers."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = [title, "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        lines.append("  ".join(
            c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
            for c, v, w in zip(row, raw, widths, strict=True)))
    return "\n".join(lines)


def emit(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
         figures: dict[str, Any]) -> None:
    """Print the table, then the figures (if any) as one JSON line."""
    print(table(title, header, rows))
    if figures:
        print(json.dumps(figures, sort_keys=True))
    print(flush=True)


def rounded(value: float, digits: int = 2) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
