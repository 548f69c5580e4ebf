"""The `hanzi fetch-strokes`, `hanzi contact-sheet`, `train` and `calibrate` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hanzi_grader.models.training.cli import calibrate_command, train_command
from hanzi_grader.models.training.config import CalibrationConfig, TrainConfig
from hanzi_grader.models.training.train import parse_classes
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


def test_train_and_calibrate_options_default_to_what_the_python_api_does(tmp_path: Path):
    """`hanzi train RUN` and `train(TrainConfig(RUN))` are the same run (they once differed
    in architecture, checkpoint interval and workers); so for calibrate."""
    params = train_command.make_context("train", [str(tmp_path / "run")]).params
    from_cli = TrainConfig(classes=parse_classes(params.pop("classes")),
                           gnt_files=list(params.pop("gnt_files")), **params)
    assert from_cli == TrainConfig(run_dir=tmp_path / "run")

    model = tmp_path / "model.keras"
    model.touch()
    params = calibrate_command.make_context("calibrate", [str(model), str(tmp_path)]).params
    assert params.pop("arch") == TrainConfig.arch
    del params["model_file"], params["bundle_dir"], params["version"]
    assert CalibrationConfig(**params) == CalibrationConfig()
