import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.results import Verdict
from PIL import Image

from hanzi_grader.cli import cli


@pytest.fixture()
def run(tiny_bundle):
    """Run ``hanzi ARGS... --model <tiny bundle>``; returns the click result."""

    def invoke(*args: str, model: bool = True):
        extra = ["--model", str(tiny_bundle)] if model else []
        return CliRunner().invoke(cli, [*args, *extra], catch_exceptions=False)

    return invoke


@pytest.fixture()
def images(tmp_path, char_image):
    """A folder of self-made images: two characters (one upper-case suffix), a blank page, junk."""
    folder = tmp_path / "sheet"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(char_image("永")).save(folder / "a.png")
    Image.fromarray(255 - char_image("水")).save(folder / "sub" / "b.JPG")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(folder / "blank.png")
    (folder / "junk.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    return folder


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_recognize_json_contract_on_a_folder(run, images):
    result = run("recognize", str(images), "-n", "3", "--json")
    assert result.exit_code == 1  # blank and junk failed
    records = json_lines(result.stdout)
    assert [r["path"] for r in records] == [str(images / "a.png"), str(images / "sub" / "b.JPG")]
    for record in records:
        assert set(record) == {"path", "candidates", "unknown"}
        assert len(record["candidates"]) == 3
        assert all(set(c) == {"char", "confidence"} for c in record["candidates"])
        assert isinstance(record["unknown"], bool)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 2
    assert any("blank.png" in line and "no ink" in line for line in errors)
    assert any("junk.png" in line and "not an image" in line for line in errors)
    assert "Traceback" not in result.stderr


def test_untrained_bundle_warns_in_every_command(run, images):
    for args in (["recognize", str(images / "a.png")], ["verify", str(images), "--target", "永"]):
        result = run(*args)
        assert "WARNING" in result.stderr and "UNTRAINED" in result.stderr


def test_recognize_human_output_in_the_seeds_spirit(run, images):
    result = run("recognize", str(images / "a.png"), "-n", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(images / "a.png")) and "[untrained model]" in lines[0]
    assert "%" in lines[1] and ("sure it's" in lines[1] or "don't know" in lines[1])
    assert lines[2].startswith("  then: ")


@pytest.mark.parametrize("args", [["recognize", "{dir}/nope.png"],
                                  ["verify", "{dir}/nope.png", "--target", "永"],
                                  ["verify", "--targets", "{dir}/targets.csv"]])
def test_missing_files_alone_fail_before_the_model_loads(tmp_path, monkeypatch, args):
    (tmp_path / "targets.csv").write_text("file,target\nnope.png,永\n", encoding="utf-8")

    def no_model(_model_dir):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("hanzi_grader.models.cli.load_recognizer", no_model)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]

    result = CliRunner().invoke(cli, args, catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stderr == f"Error: no such file: {tmp_path / 'nope.png'}\n"


def test_missing_file_fails_alone(run, images):
    result = run("recognize", str(images / "nope.png"), str(images / "a.png"), "--json")
    assert result.exit_code == 1
    assert len(json_lines(result.stdout)) == 1
    assert "nope.png" in result.stderr


def test_cam_writes_a_heat_map_per_image(run, images, tmp_path):
    result = run("recognize", str(images / "a.png"), "--cam", str(tmp_path / "cams"))
    assert result.exit_code == 0
    [written] = list((tmp_path / "cams").glob("*.png"))
    assert Image.open(written).mode == "RGB"


def test_verify_with_one_target_json_contract(run, images):
    result = run("verify", str(images / "a.png"), str(images / "sub"), "--target", "永", "--json")
    assert result.exit_code == 0
    records = json_lines(result.stdout)
    assert len(records) == 2
    for record in records:
        assert set(record) == {"path", "target", "verdict", "similarity", "predicted", "confidence",
                               "missing_stroke"}
        assert record["target"] == "永"
        assert record["verdict"] in {v.value for v in Verdict}
        assert isinstance(record["similarity"], float)
        assert isinstance(record["confidence"], float) and len(record["predicted"]) == 1


def test_verify_with_a_targets_csv_and_an_invalid_target(run, images, tmp_path):
    table = tmp_path / "targets.csv"
    rows = ["file,target", "sheet/a.png,永", f"{images / 'sub' / 'b.JPG'},A", "sheet/junk.png,永"]
    table.write_text("\n".join(rows) + "\n")  # relative names are relative to the CSV
    result = run("verify", "--targets", str(table), "--json")
    assert result.exit_code == 1  # junk.png
    first, second = json_lines(result.stdout)
    assert first["target"] == "永" and first["path"].endswith("a.png")
    assert second["verdict"] == "invalid_target" and second["similarity"] is None
    assert "junk.png" in result.stderr


def test_verify_needs_exactly_one_way_to_give_targets(run, images):
    result = run("verify", str(images))
    assert result.exit_code == 2 and "--target" in result.stderr


def test_broken_bundle_is_one_line_not_a_traceback(images, tmp_path):
    result = CliRunner().invoke(
        cli, ["recognize", str(images / "a.png"), "--model", str(tmp_path / "no-bundle")]
    )
    assert result.exit_code == 2
    assert "no-bundle" in result.stderr and "Traceback" not in result.stderr


def test_model_summary_reads_the_published_total():
    result = CliRunner().invoke(cli, ["model-summary", "--arch", "melnyk-net"])
    assert result.exit_code == 0
    assert "6,523,819" in result.stdout and "6,518,635" in result.stdout
    assert "gwap" in result.stdout


def test_real_handwriting_through_the_installed_command(real_dev_dir, tiny_bundle):
    hanzi = [sys.executable, "-m", "hanzi_grader"]
    files = sorted((real_dev_dir / "images").glob("*.png"))[-3:]
    out = subprocess.run(
        [*hanzi, "recognize", *map(str, files), "--json", "--model", str(tiny_bundle)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["path"] for line in out.stdout.splitlines()] == list(map(str, files))
    assert "UNTRAINED" in out.stderr


def test_verify_reads_the_real_dev_manifest_format(run, real_dev_dir, tmp_path):
    # file,char,... columns with paths relative to the CSV, as ../shared/real-dev/manifest.csv
    rows = (real_dev_dir / "manifest.csv").read_text(encoding="utf-8").splitlines()[:4]
    (tmp_path / "images").symlink_to(real_dev_dir / "images")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("verify", "--targets", str(tmp_path / "manifest.csv"), "--json")
    assert result.exit_code == 0, result.stderr
    records = json_lines(result.stdout)
    assert [r["target"] for r in records] == [row.split(",")[1] for row in rows[1:]]
