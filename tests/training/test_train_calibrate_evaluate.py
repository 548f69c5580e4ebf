"""The training path end to end on a tiny scale: train a few steps, calibrate, evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hanzi_grader.models.bundle import load_manifest
from hanzi_grader.models.training.train import TrainConfig, train
from PIL import Image

from hanzi_grader.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("stroke_data")]

TINY = dict(arch="melnyk-tiny-32", samples_per_class=64, batch_size=32, steps_per_epoch=4,
            warmup_steps=2, learning_rate=5e-3, workers=1)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_parts: Path) -> Path:
    """A smoke training on the mix: half real writers' trajectories, half synthetic."""
    run_dir = tmp_path_factory.mktemp("run")
    train(TrainConfig(run_dir=run_dir, classes=list("十口人大"), real_fraction=0.5,
                      trajectory_dir=tiny_parts, **TINY), verbose=0)
    return run_dir


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def test_a_smoke_training_on_four_classes_lowers_the_loss(trained_run: Path):
    losses = _losses(trained_run)
    assert len(losses) == 2  # 4 classes x 64 samples / (32 x 4 per epoch)
    assert losses[-1] < losses[0]
    assert (trained_run / "model.keras").exists()
    config = json.loads((trained_run / "config.json").read_text())
    assert config["real_fraction"] == 0.5 and config["trajectory_dir"]


def test_a_longer_run_in_the_same_directory_resumes_after_the_last_epoch(trained_run: Path):
    longer = dict(TINY, samples_per_class=96)  # three epochs
    train(TrainConfig(run_dir=trained_run, classes=list("十口人大"), real_fraction=0.0,
                      **longer), verbose=0)
    records = [json.loads(line) for line in (trained_run / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2, 3]
    # what is left counts to the end of each run: two epochs, then three resumed after two
    assert [record["epochs_left"] for record in records] == [1, 0, 0]
    assert all(record["minutes_left"] >= 0 for record in records)


def test_a_run_with_a_moving_average_saves_the_average_and_resumes(tmp_path: Path):
    import keras
    import numpy as np

    def run(samples_per_class: int) -> None:
        train(TrainConfig(run_dir=tmp_path, classes=list("十口人大"), real_fraction=0.0,
                          ema_momentum=0.9, **dict(TINY, samples_per_class=samples_per_class)),
              verbose=0)

    def weights(name: str) -> list:
        return keras.saving.load_model(tmp_path / name, compile=False).get_weights()

    run(64)
    # Given the backup holds the raw weights, the saved models the average
    backup = keras.saving.load_model(tmp_path / "last.keras", compile=False)
    backup.load_weights(next((tmp_path / "backup").glob("*.weights.h5")))
    assert not all(np.array_equal(a, b) for a, b in
                   zip(backup.get_weights(), weights("model.keras"), strict=True))
    for saved, final in zip(weights("last.keras"), weights("model.keras"), strict=True):
        np.testing.assert_array_equal(saved, final)
    run(96)
    epochs = [json.loads(line)["epoch"] for line in
              (tmp_path / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_a_new_run_starts_from_an_earlier_models_weights(trained_run: Path):
    import keras
    import numpy as np
    from hanzi_grader.models.melnyk_net import build_model
    from hanzi_grader.models.training.datasets import NUM_OUTPUTS
    from hanzi_grader.models.training.train import load_initial_weights

    source = keras.saving.load_model(trained_run / "model.keras", compile=False)
    fresh = build_model("melnyk-tiny-32", NUM_OUTPUTS)
    assert not np.allclose(fresh.get_weights()[0], source.get_weights()[0])
    load_initial_weights(fresh, trained_run / "model.keras")
    for mine, theirs in zip(fresh.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_run_records_the_hash_of_its_start_and_keeps_it_when_resumed(
    trained_run: Path, tmp_path: Path
):
    from hanzi_grader.models.bundle import file_sha256
    from hanzi_grader.models.training.train import _starting_sha256

    start = tmp_path / "start.keras"
    start.write_bytes((trained_run / "model.keras").read_bytes())
    cfg = TrainConfig(run_dir=tmp_path / "run", init_from=start)
    first = _starting_sha256(cfg)
    assert first == file_sha256(trained_run / "model.keras")
    cfg.init_from_sha256 = first
    cfg.run_dir.mkdir()
    (cfg.run_dir / "config.json").write_text(cfg.to_json())
    start.write_bytes(b"a newer bundle shipped here")
    assert _starting_sha256(TrainConfig(run_dir=cfg.run_dir, init_from=start)) == first
    assert _starting_sha256(TrainConfig(run_dir=tmp_path / "fresh")) is None


def test_a_network_on_a_larger_input_starts_from_the_same_channels(
    trained_run: Path, monkeypatch
):
    import keras
    import numpy as np
    from hanzi_grader.models.melnyk_net import ARCHITECTURES, Architecture, build_model
    from hanzi_grader.models.training.datasets import NUM_OUTPUTS
    from hanzi_grader.models.training.train import load_initial_weights

    # Given the tiny network's channels on 48-pixel input instead of 32 (a 3x3 last map, not 2x2)
    larger = Architecture("melnyk-tiny-48", 48, ARCHITECTURES["melnyk-tiny-32"].width, "test")
    monkeypatch.setitem(ARCHITECTURES, larger.name, larger)
    model = build_model(larger.name, NUM_OUTPUTS)
    source = keras.saving.load_model(trained_run / "model.keras", compile=False)

    # When it starts from the 32-pixel run's weights
    load_initial_weights(model, trained_run / "model.keras")

    # Then every weight is copied but the pooling weights, which are resized to the new map
    # and keep about the same sum over positions
    for mine, theirs in zip(model.weights, source.weights, strict=True):
        mine, theirs = np.asarray(mine), np.asarray(theirs)
        if mine.shape == theirs.shape:
            np.testing.assert_array_equal(mine, theirs)
        else:
            assert theirs.shape[:2] == (2, 2) and mine.shape == (3, 3, theirs.shape[2])
            np.testing.assert_allclose(mine.sum(axis=(0, 1)), theirs.sum(axis=(0, 1)),
                                       rtol=0.02)


def test_initial_weights_of_another_architecture_are_refused(trained_run: Path, tmp_path: Path):
    result = CliRunner().invoke(cli, [
        "train", str(tmp_path / "r"), "--arch", "melnyk-compact-48",
        "--init-from", str(trained_run / "model.keras"),
        "--real-fraction", "0",  # a checkout without ../shared beside it must get this far
    ])
    assert result.exit_code == 1
    assert "not of the architecture being trained" in result.output
    assert "Traceback" not in result.output


def test_the_training_record_is_portable_and_keeps_the_lineage(tmp_path: Path):
    from hanzi_grader.models.charset import CLASSES
    from hanzi_grader.models.training.train import training_record

    earlier = tmp_path / "old-bundle"
    earlier.mkdir()
    (earlier / "manifest.json").write_text(json.dumps({
        "version": "v1", "training": {"run_dir": "/elsewhere/run1", "classes": list(CLASSES)},
    }))
    run = tmp_path / "run2"
    run.mkdir()
    (run / "config.json").write_text(
        TrainConfig(run_dir=run, init_from=earlier / "model.keras").to_json()
    )
    record = training_record(run)
    assert record["run_dir"] == "run2" and record["classes"] == "all 3755"
    assert record["init_from"]["file"] == "old-bundle/model.keras"
    assert record["init_from"]["version"] == "v1"
    assert record["init_from"]["training"] == {
        "run_dir": "run1", "classes": "all 3755", "gnt_files": []
    }
    assert str(tmp_path) not in json.dumps(record)
    # Recalibrating the shipped weights: the bundle folder's own record stays with them
    assert training_record(earlier) == {"run_dir": "/elsewhere/run1", "classes": list(CLASSES)}
    assert training_record(tmp_path / "nothing-here") == {}


def test_train_refuses_an_input_size_its_architecture_does_not_take(tmp_path: Path):
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "r"), "--arch", "nope"])
    assert result.exit_code == 1
    assert "unknown architecture" in result.output and "Traceback" not in result.output


def test_calibrate_writes_a_trained_bundle_that_evaluate_reads(
    trained_run: Path, tmp_path: Path, char_image, tiny_parts: Path
):
    bundle = tmp_path / "bundle"
    result = CliRunner().invoke(cli, [
        "calibrate", str(trained_run / "model.keras"), str(bundle), "--arch", "melnyk-tiny-32",
        "--templates-per-class", "1", "--cases", "100", "--stroke-renders", "0",
        "--outside-renders", "1", "--stress-cases", "100", "--trajectories", str(tiny_parts),
    ])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(bundle)
    assert manifest.trained
    assert manifest.training["arch"] == "melnyk-tiny-32"
    assert manifest.evaluation["calibration"]["rates"]["cases"] == 100
    assert manifest.evaluation["calibration"]["stress_cases"] == 100
    assert manifest.evaluation["calibration"]["real_fraction"] == 0.7
    assert any("CASIA-OLHWDB1.1" in source for source in manifest.training["data"])
    # A template for every character outside the 3755, weighed into the Unknown score
    assert manifest.evaluation["calibration"]["outside_templates"] > 5000
    assert manifest.thresholds.outside_weight > 0

    # A labelled set as a file,char CSV: two readable images and one that is not an image.
    images = tmp_path / "set"
    images.mkdir()
    for name, char in [("a.png", "十"), ("b.png", "口")]:
        Image.fromarray(char_image(char, side=64)).save(images / name)
    (images / "c.png").write_bytes(b"not a png")
    with (images / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["file", "char"], ["a.png", "十"], ["b.png", "口"], ["c.png", "人"]])
    report_file = tmp_path / "report.json"
    result = CliRunner().invoke(cli, [
        "evaluate", str(bundle), "--synthetic", "20", "--verifier-cases", "100", "--no-speed",
        "--set", f"mine={images / 'manifest.csv'}", "--json-out", str(report_file),
        "--trajectories", str(tiny_parts), "--writers", "40",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    assert report["synthetic_heldout"]["n"] == 20
    assert 0.0 <= report["synthetic_heldout"]["top5"] <= 1.0
    # A broken image is unreadable: it counts as a miss, not as a crash.
    assert report["sets"]["mine"]["unreadable"] == 1
    assert report["sets"]["mine"]["n"] == 2
    assert "accept_correct" in report["verifier_synthetic"]
    # The evaluation writers: their characters, and verification cases of them
    assert report["writers_heldout"]["n"] == 40
    # Only writer 1231 wrote anything in the tiny parts; other classes fall back to synthetic.
    assert set(report["writers_heldout"]["top1_by_writer"]) <= {"1231"}
    assert report["verifier_writers"]["cases"] == 40
    assert "writers_heldout.top1" in report["goals"]


def test_stroke_templates_have_a_row_per_stroke_of_each_class(trained_run: Path):
    import keras
    from hanzi_grader.models.charset import index_of
    from hanzi_grader.models.training.calibrate import CalibrationConfig, make_stroke_templates

    model = keras.saving.load_model(trained_run / "model.keras", compile=False)
    ten, mouth, one = index_of("十"), index_of("口"), index_of("一")
    strokes = make_stroke_templates(model, 32, CalibrationConfig(stroke_renders=2, workers=2),
                                    classes=[ten, mouth, one])
    assert len(strokes.of(ten)) == 2 and len(strokes.of(mouth)) == 3
    assert len(strokes.of(one)) == 0  # a single stroke cannot be left out
    assert len(strokes) == 5 and strokes.deltas.shape[1] == model.get_layer("gwap").output.shape[-1]


def test_bfloat16_support_is_read_from_the_cpu_flags(tmp_path):
    from hanzi_grader.models.training.train import cpu_has_bfloat16

    avx2 = tmp_path / "avx2"
    avx2.write_text("flags\t\t: fpu sse2 avx avx2 fma\n")
    bf16 = tmp_path / "bf16"
    bf16.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert not cpu_has_bfloat16(avx2) and cpu_has_bfloat16(bf16)
    assert not cpu_has_bfloat16(tmp_path / "missing")
