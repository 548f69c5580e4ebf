"""Writer weights: drawing more of the training writers a model reads worst."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.charset import index_of
from hanzi_grader.models.melnyk_net import build_model
from hanzi_grader.models.training.config import TrainConfig
from hanzi_grader.models.training.trajectories import (
    HELDOUT_WRITERS,
    Trajectories,
    TrajectoryDataError,
    load_writer_weights,
)
from hanzi_grader.models.training.writer_weights import RATIO_RANGE, weights_from_top1

from hanzi_grader.cli import cli


def _writers_drawn(trajectories: Trajectories, n: int = 3000) -> Counter:
    rng = np.random.default_rng(0)
    return Counter(trajectories.of_class("口", rng).writer for _ in range(n))


def test_a_class_is_drawn_in_proportion_to_its_writers_weights(tiny_parts):
    plain = _writers_drawn(Trajectories.load(tiny_parts, exclude=HELDOUT_WRITERS))
    assert all(abs(plain[w] / 3000 - 1 / 3) < 0.05 for w in (1001, 1002, 1003))
    # 1003 is not named: it weighs 1, as 1002 does.
    weighted = _writers_drawn(Trajectories.load(tiny_parts, exclude=HELDOUT_WRITERS,
                                                writer_weights={1001: 8.0, 1002: 1.0}))
    assert abs(weighted[1001] / 3000 - 0.8) < 0.04
    assert abs(weighted[1002] - weighted[1003]) < 0.04 * 3000


def test_a_weights_file_that_is_not_writer_to_positive_number_is_refused(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"1001": 2.5, "1002": 0.5}))
    assert load_writer_weights(good) == {1001: 2.5, 1002: 0.5}
    for name, text in [("list.json", "[1, 2]"), ("zero.json", '{"1001": 0}'),
                       ("word.json", '{"someone": 1}'), ("broken.json", "{")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(TrajectoryDataError, match=name):
            load_writer_weights(tmp_path / name)


def test_train_names_a_bad_weights_file_before_it_starts(tiny_parts, tmp_path):
    bad = tmp_path / "weights.json"
    bad.write_text('{"1001": -1}')
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "run"), "--arch", "melnyk-tiny-32",
                                      "--trajectories", str(tiny_parts),
                                      "--writer-weights", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "weights.json: writer weights must be positive" in result.output
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_writers_read_worse_weigh_more_within_bounds():
    weights = weights_from_top1({1: 0.9, 2: 0.7, 3: 0.5, 4: 0.999, 5: 0.0})
    assert weights[5] > weights[3] > weights[2] > weights[1] > weights[4]
    low, high = (np.sqrt(r) for r in RATIO_RANGE)
    assert all(low - 1e-4 <= w <= high + 1e-4 for w in weights.values())
    assert weights[4] == pytest.approx(low, abs=1e-4) and weights[5] < high
    assert weights_from_top1({1: 0.8, 2: 0.8}) == {1: 1.0, 2: 1.0}  # all alike: unchanged
    assert weights_from_top1({1: 1.0}) == {1: 1.0}  # nothing misread: unchanged


def test_the_generator_draws_real_samples_by_the_weights_file(tiny_parts, tmp_path):
    from hanzi_grader.models.training.samples import SampleGenerator

    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"1002": 20.0}))
    generator = SampleGenerator(classes="十口", size=32, unknown_fraction=0.0, real_fraction=1.0,
                                trajectory_dir=str(tiny_parts), writer_weights=str(path))
    rng = np.random.default_rng(1)
    writers = Counter()
    for _ in range(60):
        generator.sample(1, rng)
        writers[generator.last_writer] += 1
    assert writers[1002] > 45  # 20 / 22 of the draws, expected 55
    assert json.loads(TrainConfig(run_dir=tmp_path, writer_weights=path).to_json())[
        "writer_weights"] == str(path)


def test_the_command_writes_a_weight_for_each_training_writer(tiny_parts, tmp_path):
    model = build_model("melnyk-tiny-32", 3756)
    kernel, bias = model.get_layer("predictions").get_weights()
    bias[index_of("十")] = 50.0  # answers 十 to everything: a quarter of the renders
    model.get_layer("predictions").set_weights([kernel * 0, bias])
    model.save(tmp_path / "ten.keras")
    out = tmp_path / "weights.json"
    result = CliRunner().invoke(cli, ["writer-weights", str(tmp_path / "ten.keras"), str(out),
                                      "--per-writer", "12", "--trajectories", str(tiny_parts)])
    assert result.exit_code == 0, result.output
    assert "3 writers" in result.output
    weights = load_writer_weights(out)
    assert set(weights) == {1001, 1002, 1003}  # held-out writers 1225 and 1231 are not weighed
    assert all(0.25 <= w <= 2.0 for w in weights.values())
