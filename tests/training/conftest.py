"""Training test fixtures: real stroke data (fetched once if absent), a clean style, a widened
tiny architecture."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hanzi_grader.models.melnyk_net import ARCHITECTURES, Architecture
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.strokes import StrokeData, StrokeDataMissing, fetch_strokes


@pytest.fixture(scope="session")
def stroke_data() -> StrokeData:
    """The real stroke data; fetched with npm (about 10 s) when the cache is absent."""
    try:
        return StrokeData.load()
    except StrokeDataMissing:
        fetch_strokes()
        return StrokeData.load()


@pytest.fixture
def wider_tiny(monkeypatch) -> Architecture:
    """The tiny network with blocks 4 and 5 twice as wide (as compact-64-wide5 is to compact-64)."""
    tiny = ARCHITECTURES["melnyk-tiny-32"]
    wider = Architecture("melnyk-tiny-32-wide", 32, tiny.width, "test",
                         block_widths=(tiny.width,) * 3 + (2 * tiny.width,) * 2)
    monkeypatch.setitem(ARCHITECTURES, wider.name, wider)
    return wider


@pytest.fixture
def clean_style() -> HandwritingStyle:
    """The training style without the pixel-level noise, so pixel comparisons are exact."""
    return dataclasses.replace(
        HandwritingStyle(),
        blur=(0.0, 0.0),
        noise=(0.0, 0.0),
        jpeg_probability=0.0,
        grid_probability=0.0,
        ink_texture=(0.0, 0.0),
        white_paper_probability=1.0,
        ink_level=(0.0, 0.0),
    )


# Two characters in the package's format: 十 (2 strokes) and 口 (3 strokes).
FAKE_CHARACTERS = {
    "十": {
        "strokes": ["M 100 400 L 900 400 Z", "M 500 800 L 500 0 Z"],
        "medians": [[[100, 400], [900, 400]], [[500, 800], [500, 0]]],
        "radStrokes": [0, 1],
    },
    "口": {
        "strokes": ["M 200 700 L 200 100 Z", "M 200 700 L 800 700 L 800 100 Z",
                    "M 200 100 L 800 100 Z"],
        "medians": [[[200, 700], [200, 100]], [[200, 700], [800, 700], [800, 100]],
                    [[200, 100], [800, 100]]],
    },
}


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    """A cache directory holding a tiny unpacked package, as `npm pack` leaves it."""
    package = tmp_path / "cache" / "package"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "hanzi-writer-data", "version": "2.0.1"}')
    (package / "ARPHICPL.TXT").write_text("ARPHIC PUBLIC LICENSE")
    for char, data in FAKE_CHARACTERS.items():
        (package / f"{char}.json").write_text(json.dumps(data), encoding="utf-8")
    return package.parent


def _line(*corners: tuple[int, int], n: int = 8) -> np.ndarray:
    """A pen stroke through ``corners``, ``n`` points a segment."""
    parts = [np.linspace(a, b, n) for a, b in itertools.pairwise(corners)]
    return np.concatenate(parts).round().astype(np.uint8)


# A pen's strokes for a few characters (0-255 box, y down), as a tablet records them.
PEN_STROKES = {
    "十": [_line((0, 128), (255, 128)), _line((128, 0), (128, 255))],
    "口": [_line((0, 0), (0, 255)), _line((0, 0), (255, 0), (255, 255)),
           _line((0, 255), (255, 255))],
    "人": [_line((128, 0), (0, 255)), _line((128, 60), (255, 255))],
    "大": [_line((0, 90), (255, 90)), _line((128, 0), (0, 255)), _line((128, 90), (255, 255))],
}


@pytest.fixture(scope="session")
def tiny_parts(tmp_path_factory) -> Path:
    """A folder with one tiny parts file: 十口人大 by three training writers, a calibration
    writer (1225) and an evaluation writer (1231), plus a character outside the 3755 that the
    loader must drop."""
    from hanzi_grader.models.training.trajectories import Sample, write_part

    rng = np.random.default_rng(0)
    samples = []
    for writer in (1001, 1002, 1003, 1225, 1231):
        for char, strokes in PEN_STROKES.items():
            jitter = [np.clip(s.astype(int) + rng.integers(-6, 7, s.shape), 0, 255).astype(np.uint8)
                      for s in strokes]
            samples.append(Sample(char, writer, (200, 210), jitter))
    samples.append(Sample("A", 1001, (120, 200), [_line((0, 255), (128, 0))]))
    folder = tmp_path_factory.mktemp("olhwdb")
    write_part(folder / "part-00.npz", samples)
    return folder
