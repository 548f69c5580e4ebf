"""The `hanzi fetch-strokes` and `hanzi contact-sheet` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from hanzi_grader.cli import cli


def test_fetch_strokes_builds_the_cache_of_an_unpacked_package(fake_package: Path):
    result = CliRunner().invoke(cli, ["fetch-strokes", "--cache-dir", str(fake_package)])
    assert result.exit_code == 0, result.output
    assert (fake_package / "strokes.npz").exists()
    assert "strokes.npz" in result.output


@pytest.mark.usefixtures("stroke_data")
def test_contact_sheet_writes_a_grid_with_unknown_and_incomplete_rows(tmp_path: Path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        cli, ["contact-sheet", str(out), "--chars", "安你", "--n", "3", "--size", "48"]
    )
    assert result.exit_code == 0, result.output
    sheet = Image.open(out)
    # 2 characters x (pen + brush + font) + Unknown + incomplete rows of 48 + 4 pixels.
    assert sheet.height == 8 * 52
    assert sheet.width == 150 + 3 * 52


@pytest.mark.usefixtures("stroke_data")
def test_contact_sheet_names_a_character_without_stroke_data(tmp_path: Path):
    result = CliRunner().invoke(cli, ["contact-sheet", str(tmp_path / "x.png"), "--chars", "A"])
    assert result.exit_code == 1
    assert "'A'" in result.output and "Traceback" not in result.output
