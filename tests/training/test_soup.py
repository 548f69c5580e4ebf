"""hanzi average-weights: a continuation averaged with the model it started from."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.melnyk_net import build_model
from hanzi_grader.models.training.cli import average_weights_command
from hanzi_grader.models.training.soup import average_with_start


@pytest.fixture
def run(tmp_path):
    """A finished run folder whose config names the model it started from."""
    start, trained = build_model("melnyk-tiny-32", 3756), build_model("melnyk-tiny-32", 3756)
    start.save(tmp_path / "start.keras")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trained.save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(json.dumps({"init_from": str(tmp_path / "start.keras"),
                                                     "seed": 7}))
    return run_dir, start.get_weights(), trained.get_weights()


def test_weights_are_interpolated_and_the_lineage_recorded(run, tmp_path):
    import keras

    run_dir, start, trained = run
    path = average_with_start(run_dir, tmp_path / "soup", weight=0.25)
    averaged = keras.saving.load_model(path, compile=False).get_weights()
    assert len(averaged) == len(start)
    for a, s, t in zip(averaged, start, trained, strict=True):
        np.testing.assert_allclose(a, 0.75 * s + 0.25 * t, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(s, t) for s, t in zip(start, trained, strict=True))
    config = json.loads((tmp_path / "soup" / "config.json").read_text())
    assert config["seed"] == 7 and config["averaged_with"]["init_from_weight"] == 0.75


def test_a_run_that_started_from_nothing_is_refused_clearly(run, tmp_path):
    run_dir, _, _ = run
    (run_dir / "config.json").write_text(json.dumps({"init_from": None}))
    result = CliRunner().invoke(average_weights_command, [str(run_dir), str(tmp_path / "out")])
    assert result.exit_code != 0 and "did not start from a model" in result.output
    assert not (tmp_path / "out").exists()


def test_another_architecture_is_refused_clearly(run, tmp_path):
    run_dir, _, _ = run
    build_model("melnyk-compact-48", 3756).save(tmp_path / "other.keras")
    (run_dir / "config.json").write_text(json.dumps({"init_from": str(tmp_path / "other.keras")}))
    result = CliRunner().invoke(average_weights_command, [str(run_dir), str(tmp_path / "out")])
    assert result.exit_code != 0 and "not the same architecture" in result.output


def test_a_start_that_changed_since_the_run_began_is_refused(run, tmp_path):
    """A run from models/bundle must not be averaged with the next bundle shipped there."""
    from hanzi_grader.models.bundle import file_sha256

    run_dir, _, _ = run
    start = tmp_path / "start.keras"
    config = json.loads((run_dir / "config.json").read_text())
    config["init_from_sha256"] = file_sha256(start)
    (run_dir / "config.json").write_text(json.dumps(config))
    build_model("melnyk-tiny-32", 3756).save(tmp_path / "moved.keras")
    start.replace(tmp_path / "original.keras")
    (tmp_path / "moved.keras").replace(start)  # a newer model where the run started from
    result = CliRunner().invoke(average_weights_command, [str(run_dir), str(tmp_path / "out")])
    assert result.exit_code != 0 and "not the model this run started from" in result.output

    result = CliRunner().invoke(average_weights_command, [
        str(run_dir), str(tmp_path / "out"), "--start", str(tmp_path / "original.keras")])
    assert result.exit_code == 0, result.output
    soup = json.loads((tmp_path / "out" / "config.json").read_text())
    assert soup["init_from"] == str(tmp_path / "original.keras")


def test_a_run_that_widened_its_start_is_averaged_with_the_widened_start(tmp_path, wider_tiny):
    """A run --init-from a narrower model (Net2Wider) soups with that start widened as the
    run widened it: at weight 0 the soup computes what the narrow start did."""
    import keras
    from hanzi_grader.models.training.train import load_initial_weights

    wider = wider_tiny
    # Given a narrow start and a wider run that began from it with seed 5
    narrow = build_model("melnyk-tiny-32", 3756)
    narrow.save(tmp_path / "start.keras")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    build_model(wider.name, 3756).save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(json.dumps(
        {"init_from": str(tmp_path / "start.keras"), "arch": wider.name, "seed": 5}))

    # When it is averaged with weight 0 for the run
    path = average_with_start(run_dir, tmp_path / "soup", weight=0.0)

    # Then the soup is the run's architecture holding the widened start, drawn with the run's seed
    soup = keras.saving.load_model(path, compile=False)
    expected = build_model(wider.name, 3756)
    load_initial_weights(expected, tmp_path / "start.keras", seed=5)
    assert len(soup.weights) == len(expected.weights)
    for a, b in zip(soup.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    x = np.random.default_rng(0).random((4, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(soup.predict(x, verbose=0), narrow.predict(x, verbose=0),
                               atol=2e-3)
