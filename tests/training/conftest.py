"""Synthesiser test fixtures: real stroke data (fetched once if absent), a clean style."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from models.training.strokes import StrokeData, StrokeDataMissing, fetch_strokes
from models.training.synth import HandwritingStyle


@pytest.fixture(scope="session")
def stroke_data() -> StrokeData:
    """The real stroke data; fetched with npm (about 10 s) when the cache is absent."""
    try:
        return StrokeData.load()
    except StrokeDataMissing:
        fetch_strokes()
        return StrokeData.load()


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
