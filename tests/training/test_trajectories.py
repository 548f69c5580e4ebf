"""Real writers' trajectories: reading the parts, drawing them as scanned ink."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.training.trajectories import (
    HELDOUT_WRITERS,
    REAL_SOURCE,
    SYNTHETIC_SOURCES,
    Sample,
    Trajectories,
    TrajectoryDataError,
    read_part,
    real_style,
    render_trajectory,
    shared_trajectories,
    training_data,
)

from hanzi_grader.cli import cli
from tests.training.conftest import PEN_STROKES

# A "7": a horizontal stroke along the top, then a vertical one down the right side.
SEVEN = Sample("十", 1001, (236, 236), [
    np.linspace((0, 0), (255, 0), 8).astype(np.uint8),
    np.linspace((255, 0), (255, 255), 8).astype(np.uint8),
])


@pytest.fixture
def plain_style():
    """The real-writer style without geometric changes or scanner effects: pixels can be
    checked against the points."""
    return dataclasses.replace(
        real_style(), stroke_shift=(0, 0), stroke_rotation=(0, 0), stroke_scale=(0, 0),
        bend=(0, 0), length_change=(0, 0), corner_rounding=(0, 0), wobble=(0, 0), slant=(0, 0),
        rise=(0, 0), rotation=(0, 0), aspect=(1, 1), elastic=(0, 0), blur=(0, 0), noise=(0, 0),
        jpeg_probability=0.0, grid_probability=0.0, ink_texture=(0, 0),
        white_paper_probability=1.0, ink_level=(0, 0), margin=(0.1, 0.1),
        pen_width=(0.05, 0.05), pressure_taper=(0, 0),
    )


def test_the_loader_reads_every_known_character_and_filters_writers(tiny_parts: Path):
    everyone = Trajectories.load(tiny_parts)
    assert len(everyone) == 5 * len(PEN_STROKES)  # the non-3755 "A" is dropped
    assert everyone.count("口") == 5 and everyone.count("A") == 0
    training = Trajectories.load(tiny_parts, exclude=HELDOUT_WRITERS)
    assert {training.sample(k).writer for k in range(len(training))} == {1001, 1002, 1003}
    evaluation = shared_trajectories(str(tiny_parts), "evaluation")
    assert {evaluation.sample(k).writer for k in range(len(evaluation))} == {1231}


def test_a_sample_keeps_its_strokes_box_and_writer(tiny_parts: Path):
    part = read_part(tiny_parts / "part-00.npz")
    strokes = part.strokes(1)  # writer 1001's 口
    assert chr(int(part.chars[1])) == "口" and int(part.writers[1]) == 1001
    assert [len(s) for s in strokes] == [len(s) for s in PEN_STROKES["口"]]
    assert tuple(part.sizes[1]) == (200, 210)
    rng = np.random.default_rng(0)
    sample = Trajectories([part]).of_class("大", rng)
    assert sample.char == "大" and len(sample.strokes) == 3


def test_unreadable_or_missing_parts_say_what_to_do(tmp_path: Path):
    (tmp_path / "part-00.npz").write_bytes(b"not a zip")
    with pytest.raises(TrajectoryDataError, match=r"part-00\.npz"):
        read_part(tmp_path / "part-00.npz")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "run"), "--arch",
                                      "melnyk-tiny-32", "--trajectories", str(empty)])
    assert result.exit_code == 1
    assert "--real-fraction 0" in result.output and "Traceback" not in result.output


def test_a_render_is_the_same_for_the_same_seed_and_differs_for_another():
    first = render_trajectory(SEVEN, np.random.default_rng(5), size=64)
    again = render_trajectory(SEVEN, np.random.default_rng(5), size=64)
    other = render_trajectory(SEVEN, np.random.default_rng(6), size=64)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.uint8 and max(first.shape) == 64
    assert not np.array_equal(first, other)


def test_ink_lies_where_the_points_are(plain_style):
    image = render_trajectory(SEVEN, np.random.default_rng(1), size=64, style=plain_style)
    ink = image < 128
    assert ink[:14].any(axis=0)[8:56].all()  # the top stroke spans the width
    assert ink[:, 50:].any(axis=1)[8:56].all()  # the right stroke spans the height
    assert not ink[20:, :40].any()  # nothing lower left, where no point is


def test_a_stroke_left_out_takes_its_ink_and_only_its_ink(plain_style):
    whole = render_trajectory(SEVEN, np.random.default_rng(1), size=64, style=plain_style)
    top_only = render_trajectory(SEVEN, np.random.default_rng(1), size=64, style=plain_style,
                                 omit_strokes=(1,))
    assert not (top_only[20:] < 128).any()  # the right stroke's ink is gone
    np.testing.assert_array_equal(top_only[:8, :40], whole[:8, :40])  # the top's stays
    assert (top_only >= whole).all()  # leaving a stroke out only takes ink away


def test_the_manifest_names_the_real_writers_wherever_they_were_used():
    synthetic = {"real_fraction": 0.0, "init_from": None}
    assert REAL_SOURCE not in training_data(synthetic, calibrated_on_real=False)
    assert REAL_SOURCE in training_data(synthetic, calibrated_on_real=True)
    # Fine-tuned, synthetic-only, from weights that had seen the real writers: still theirs
    descendant = {"real_fraction": 0.0,
                  "init_from": {"file": "a/model.keras", "training": {"real_fraction": 0.7}}}
    assert REAL_SOURCE in training_data(descendant, calibrated_on_real=False)
    assert all(source in training_data(synthetic, False) for source in SYNTHETIC_SOURCES)


def test_the_generator_names_the_writer_of_a_real_render_and_none_of_a_synthetic_one(
        tiny_parts):
    from hanzi_grader.models.training.samples import SampleGenerator

    rng = np.random.default_rng(0)
    real = SampleGenerator(classes="十口", size=32, unknown_fraction=0.0, real_fraction=1.0,
                           trajectory_dir=str(tiny_parts), real_writers="evaluation")
    real.sample(0, rng)
    assert real.last_writer == 1231  # the tiny parts' only evaluation writer
    real.sample(real.unknown_label, rng)
    assert real.last_writer is None  # not left over from the render before
    synthetic = SampleGenerator(classes="十口", size=32, unknown_fraction=0.0)
    synthetic.sample(0, rng)
    assert synthetic.last_writer is None
