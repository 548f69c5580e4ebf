"""The stroke data cache: built from an unpacked package, loaded fast, clear when missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hanzi_grader.models.training.strokes import (
    CACHE_FILE_NAME,
    StrokeData,
    StrokeDataMissing,
    fetch_strokes,
)


def test_fetch_builds_a_cache_that_loads_medians_outlines_and_radicals(fake_package: Path):
    # Given an unpacked package (npm pack already done), when fetching, then no network is used
    cache_file = fetch_strokes(fake_package)
    assert cache_file == fake_package / CACHE_FILE_NAME
    data = StrokeData.load(fake_package)

    assert data.characters() == "十口"
    assert data.has("口") and not data.has("安")
    medians = data.medians("口")
    assert [m.tolist() for m in medians] == [
        [[200, 700], [200, 100]],
        [[200, 700], [800, 700], [800, 100]],
        [[200, 100], [800, 100]],
    ]
    assert data.outlines("十") == ["M 100 400 L 900 400 Z", "M 500 800 L 500 0 Z"]
    assert data.radical_strokes("十") == (0, 1)
    assert data.radical_strokes("口") == ()
    assert (fake_package / "package" / "ARPHICPL.TXT").exists()


def test_cache_is_not_a_pickle(fake_package: Path):
    fetch_strokes(fake_package)
    with np.load(fake_package / CACHE_FILE_NAME, allow_pickle=False) as npz:
        assert "points" in npz.files


def test_missing_cache_tells_the_user_to_fetch(tmp_path: Path):
    with pytest.raises(StrokeDataMissing, match="hanzi fetch-strokes"):
        StrokeData.load(tmp_path)


def test_unknown_character_names_it(fake_package: Path):
    fetch_strokes(fake_package)
    with pytest.raises(KeyError, match="安"):
        StrokeData.load(fake_package).medians("安")


def test_real_stroke_data_covers_the_3755_classes(stroke_data: StrokeData):
    from hanzi_grader.models.charset import CLASSES

    assert len(stroke_data) > 9000
    assert all(stroke_data.has(c) for c in CLASSES)
    assert len(stroke_data.medians("安")) == 6


def test_outline_paths_flatten_to_polygons():
    from hanzi_grader.models.training.strokes import outline_polygon

    polygon = outline_polygon("M 0 0 L 100 0 Q 100 100 0 100 C 0 60 -10 40 0 0 Z")

    assert polygon[0].tolist() == [0, 0] and polygon[1].tolist() == [100, 0]
    assert len(polygon) == 2 + 4 + 4  # each curve flattened to four points
    assert polygon[5].tolist() == [0, 100] and polygon[-1].tolist() == [0, 0]
    assert polygon[:, 0].max() == 100 and polygon[:, 0].min() < 0  # the cubic bulges left


def test_outline_with_an_unknown_command_is_refused():
    from hanzi_grader.models.training.strokes import outline_polygon

    with pytest.raises(ValueError, match="'A'"):
        outline_polygon("M 0 0 A 5 5 0 0 1 10 10 Z")


def test_fetch_runs_npm_pack_and_unpacks_the_tarball(
    fake_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given a stand-in `npm` that packs the fake package where `npm pack` would put it
    import os
    import tarfile

    tarball = tmp_path / "hanzi-writer-data-2.0.1.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(fake_package / "package", arcname="package")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/npm-args\n'
        'while [ "$1" != "--pack-destination" ]; do shift; done\n'
        f'cp {tarball} "$2"/\n'
    )
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    target = tmp_path / "fresh-cache"

    # When fetching into an empty cache directory
    fetch_strokes(target)

    # Then the pinned version was asked for, the licence kept, and the cache loads
    assert (tmp_path / "npm-args").read_text().startswith("pack hanzi-writer-data@2.0.1")
    assert (target / "package" / "ARPHICPL.TXT").exists()
    assert StrokeData.load(target).characters() == "十口"


def test_a_cache_of_another_version_asks_for_a_fetch(fake_package: Path):
    cache_file = fetch_strokes(fake_package)
    with np.load(cache_file) as npz:
        arrays = dict(npz)
    arrays["version"] = np.array("1.0.0")
    np.savez(cache_file, **arrays)

    with pytest.raises(StrokeDataMissing, match=r"version 1\.0\.0.*hanzi fetch-strokes"):
        StrokeData.load(fake_package)
