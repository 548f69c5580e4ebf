"""Net2Wider: a narrow network's weights seed a wider one that computes the same function;
a run that freezes the first blocks leaves them as they started."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hanzi_grader.models.melnyk_net import build_model
from hanzi_grader.models.training.datasets import NUM_OUTPUTS
from hanzi_grader.models.training.train import TrainConfig, load_initial_weights, train
from hanzi_grader.models.training.widen import widened_weights


def _trained_looking(model, seed: int = 1) -> None:
    """Random weights of trained-like scale, so the comparison below is not of near-zeros."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        np.abs(rng.normal(1, 0.2, w.shape)).astype("float32") if "variance" in w.path
        else rng.normal(0, 0.3, w.shape).astype("float32") for w in model.weights
    ])


def test_a_widened_network_computes_what_the_narrow_one_did(wider_tiny, tmp_path: Path):
    # Given a narrow network with weights far from their initial values, saved
    narrow = build_model("melnyk-tiny-32", NUM_OUTPUTS)
    _trained_looking(narrow)
    narrow.save(tmp_path / "narrow.keras")

    # When a wider network starts from it
    wide = build_model(wider_tiny.name, NUM_OUTPUTS)
    load_initial_weights(wide, tmp_path / "narrow.keras", seed=3)

    # Then it has more channels and gives the same probabilities
    assert wide.get_layer("gwap").output.shape[-1] == 2 * narrow.get_layer("gwap").output.shape[-1]
    x = np.random.default_rng(0).random((16, 32, 32, 1), dtype=np.float32)
    before = narrow.predict(x, verbose=0)
    after = wide.predict(x, verbose=0)
    assert not np.allclose(before, 1 / NUM_OUTPUTS, atol=1e-4)  # a peaked, testable output
    np.testing.assert_allclose(after, before, atol=2e-3)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()


def test_the_new_channels_are_not_exact_copies(wider_tiny):
    narrow = build_model("melnyk-tiny-32", NUM_OUTPUTS)
    _trained_looking(narrow)
    wide = build_model(wider_tiny.name, NUM_OUTPUTS)
    kernel = widened_weights(narrow, wide, seed=0)[
        [w.path for w in wide.weights].index(wide.get_layer("block5_conv1").kernel.path)]
    old = narrow.get_layer("block5_conv1").filters
    copied_from = [min(range(old), key=lambda c, j=j: np.abs(kernel[..., c] - kernel[..., j]).max())
                   for j in range(old, kernel.shape[-1])]
    for j, c in zip(range(old, kernel.shape[-1]), copied_from, strict=True):
        assert 0 < np.abs(kernel[..., j] - kernel[..., c]).max() < 0.1


def test_a_narrower_target_is_refused(wider_tiny):
    wide = build_model(wider_tiny.name, NUM_OUTPUTS)
    narrow = build_model("melnyk-tiny-32", NUM_OUTPUTS)
    with pytest.raises(ValueError, match="cannot narrow"):
        widened_weights(wide, narrow)


@pytest.mark.slow
@pytest.mark.usefixtures("stroke_data")
def test_frozen_blocks_keep_their_starting_weights(tmp_path: Path):
    import keras

    start = build_model("melnyk-tiny-32", NUM_OUTPUTS)
    start.save(tmp_path / "start.keras")
    train(TrainConfig(run_dir=tmp_path / "run", arch="melnyk-tiny-32", classes=list("十口人大"),
                      real_fraction=0.0, samples_per_class=32, batch_size=32, steps_per_epoch=4,
                      warmup_steps=2, learning_rate=5e-3, workers=1,
                      init_from=tmp_path / "start.keras", frozen_blocks=2), verbose=0)

    trained = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    changed = {w.path.split("/")[0] for w, before in zip(trained.weights, start.get_weights(),
                                                         strict=True)
               if not np.array_equal(np.asarray(w), before)}
    assert not any(name.startswith(("block1_", "block2_")) for name in changed)
    assert {"block3_conv1", "block5_conv3", "predictions"} <= changed
    assert all(layer.trainable for layer in trained.layers)  # the freeze was the run's
    assert json.loads((tmp_path / "run" / "config.json").read_text())["frozen_blocks"] == 2


def test_freezing_without_a_start_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="--init-from"):
        train(TrainConfig(run_dir=tmp_path, arch="melnyk-tiny-32", frozen_blocks=2))
