"""The kind of each stroke (横 竖 撇 点 捺 提 折 钩), derived from the stroke data's medians.

``stroke_kind`` reads one median (the package's 1024-unit box, y up): a stroke with a sharp
turn near its end is a hook (钩), one with a sharp turn elsewhere a turning stroke (折);
a straight one is named by its direction, a short one that is neither level nor rising a
dot (点). Compound names (横折钩, 竖弯 ...) fold into these eight: a learner told "the 钩" finds
the stroke, and the eight are what a teacher's first lesson names.

The kinds of the 3755 ship as a small table (``stroke_kinds.txt``, built by ``build_table``
from the stroke data), so the worker names a stroke's kind without the stroke data itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

KINDS = ("横", "竖", "撇", "点", "捺", "提", "折", "钩")
# One ASCII letter per kind in the table (pinyin initials; zhe/gou need their own).
CODES = dict(zip("HSPDNTZG", KINDS, strict=True))
LETTERS = {kind: letter for letter, kind in CODES.items()}
TABLE = Path(__file__).with_name("stroke_kinds.txt")

# A turn sharper than this (degrees, over a few resampled steps) is a corner, not a curve.
CORNER_DEGREES = 60.0
# A part after the last corner shorter than this share of the stroke is a hook; a part before
# the first one shorter than LEAD_IN_SHARE is the brush's entry, which the medians keep.
HOOK_SHARE = 0.25
LEAD_IN_SHARE = 0.2
# A stroke shorter than this (units of the 1024 box) that is neither level nor rising is a dot
# (the dots of 小 and 心 run 180-260 units, the shortest 竖 of 口 about 460).
DOT_LENGTH = 300.0
_STEPS = 16  # resampled segments per stroke
_WINDOW = 2  # segments over which a turn is measured
_LEAD_STEPS = 2  # resampled segments a straight stroke's direction skips at its start


def _resample(points: np.ndarray, n: int) -> np.ndarray:
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if len(points) < 2 or arc[-1] == 0:
        return np.repeat(points[:1], n + 1, axis=0)
    at = np.linspace(0.0, arc[-1], n + 1)
    return np.stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])], 1)


def _direction_kind(vector: np.ndarray, length: float) -> str:
    """The kind of a straight stroke from its start-to-end ``vector`` (x right, y down)."""
    angle = float(np.degrees(np.arctan2(vector[1], vector[0])))  # 0 right, 90 down
    if -25.0 <= angle <= 25.0:
        return "横"
    if -90.0 < angle < -25.0:
        return "提"
    if length < DOT_LENGTH:  # short: a dot unless plainly vertical or flat leftwards (我's 撇)
        return "竖" if 70.0 <= angle <= 100.0 else "撇" if abs(angle) > 145.0 else "点"
    if 70.0 <= angle <= 110.0:
        return "竖"
    return "捺" if 25.0 < angle < 70.0 else "撇"


def stroke_kind(median: Sequence[Sequence[float]] | np.ndarray) -> str:
    """The kind (one of ``KINDS``) of the stroke whose median is ``median`` (1024 box, y up)."""
    points = np.asarray(median, dtype=np.float64).reshape(-1, 2) * [1.0, -1.0]  # y down
    length = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
    if length == 0:
        return "点"
    path = _resample(points, _STEPS)
    headings = np.degrees(np.arctan2(*np.diff(path, axis=0).T[::-1]))
    turns = np.abs((headings[_WINDOW:] - headings[:-_WINDOW] + 180.0) % 360.0 - 180.0)
    # Where each window turns (the index of its middle step's end), lead-ins left out.
    corners = np.flatnonzero(turns > CORNER_DEGREES) + _WINDOW // 2 + 1
    corners = corners[corners >= LEAD_IN_SHARE * _STEPS]
    if len(corners):
        tail = (_STEPS - int(corners[-1])) / _STEPS
        return "钩" if tail < HOOK_SHARE else "折"
    # The body's direction, from past the lead-in: 是's short 竖 enters at a slant.
    return _direction_kind(path[-1] - path[_LEAD_STEPS], length)


def kinds_of_medians(medians: Sequence[np.ndarray]) -> list[str]:
    """The kind of each stroke of a character, in stroke order."""
    return [stroke_kind(median) for median in medians]


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    if not TABLE.is_file():
        return {}
    rows = (line.split("\t") for line in TABLE.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#"))
    return {char: letters for char, letters in rows}


def stroke_kinds(char: str) -> list[str] | None:
    """The kinds of ``char``'s strokes in standard order (None for a character the shipped
    table lacks: outside the 3755, or no stroke data when it was built)."""
    letters = _table().get(char)
    return None if letters is None else [CODES[letter] for letter in letters]


def build_table(path: Path = TABLE) -> Path:
    """Write the table of the 3755's stroke kinds from the stroke data (``hanzi
    fetch-strokes``): one line per character, its kinds as ``CODES`` letters."""
    from hanzi_grader.models.charset import CLASSES
    from hanzi_grader.models.training.strokes import shared_stroke_data

    data = shared_stroke_data()
    legend = " ".join(f"{letter}={kind}" for letter, kind in CODES.items())
    lines = [f"# stroke kinds of the 3755, derived from hanzi-writer-data's medians: {legend}"]
    for char in CLASSES:
        if data.has(char):
            lines.append(char + "\t" + "".join(LETTERS[k] for k in
                                               kinds_of_medians(data.medians(char))))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _table.cache_clear()
    return path


if __name__ == "__main__":  # python -m hanzi_grader.models.stroke_kinds: rebuild the table
    print(build_table())
