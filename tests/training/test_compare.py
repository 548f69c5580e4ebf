"""hanzi compare-models: candidates scored on the same renders of the calibration writers."""

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.charset import index_of
from hanzi_grader.models.melnyk_net import build_model
from hanzi_grader.models.training.compare import calibration_writer_renders, compare_models

from hanzi_grader.cli import cli


def _model_answering(char: str, path, arch: str = "melnyk-tiny-32"):
    """A model whose bias makes ``char`` its answer to everything, saved to ``path``."""
    model = build_model(arch, 3756)
    kernel, bias = model.get_layer("predictions").get_weights()
    bias[index_of(char)] = 50.0
    model.get_layer("predictions").set_weights([kernel * 0, bias])
    model.save(path)
    return path


def test_renders_are_the_calibration_writers_own_characters(tiny_parts):
    images, labels = calibration_writer_renders(40, 32, tiny_parts, progress=False)
    assert images.shape == (40, 32, 32, 1) and images.dtype == np.float32
    # The same renders on every call: candidates scored apart are still paired.
    assert set(labels.tolist()) <= {index_of(c) for c in "十口人大"}
    assert len(set(labels.tolist())) > 1
    again, again_labels = calibration_writer_renders(40, 32, tiny_parts, progress=False)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)


def test_each_model_is_scored_on_the_same_renders(tiny_parts, tmp_path):
    ten = _model_answering("十", tmp_path / "ten.keras")
    mouth = _model_answering("口", tmp_path / "mouth.keras")
    _, labels = calibration_writer_renders(200, 32, tiny_parts, progress=False)
    scores = compare_models([ten, mouth], 200, tiny_parts, progress=False)
    assert scores[0].top1 == pytest.approx(np.mean(labels == index_of("十")))
    assert scores[1].top1 == pytest.approx(np.mean(labels == index_of("口")))
    assert 0 < scores[0].top1 < 1 and scores[0].top5 >= scores[0].top1
    # Paired: every render one reads is one the other misses.
    assert scores[1].versus(scores[0]) == (int(scores[1].correct.sum()),
                                           int(scores[0].correct.sum()))


def test_the_command_prints_a_table_and_refuses_mixed_sizes(tiny_parts, tmp_path):
    ten = _model_answering("十", tmp_path / "ten.keras")
    result = CliRunner().invoke(cli, ["compare-models", str(ten), str(ten), "--samples", "100",
                                      "--trajectories", str(tiny_parts)])
    assert result.exit_code == 0, result.output
    assert "top-1" in result.output and "0/0" in result.output

    big = _model_answering("十", tmp_path / "big.keras", arch="melnyk-compact-48")
    result = CliRunner().invoke(cli, ["compare-models", str(ten), str(big), "--samples", "100",
                                      "--trajectories", str(tiny_parts)])
    assert result.exit_code != 0 and "different input sizes" in result.output


def test_a_file_that_is_not_a_model_is_named(tiny_parts, tmp_path):
    (tmp_path / "notes.keras").write_text("not a model")
    result = CliRunner().invoke(cli, ["compare-models", str(tmp_path / "notes.keras"),
                                      "--trajectories", str(tiny_parts)])
    assert result.exit_code != 0 and "notes.keras is not a readable .keras model" in result.output
