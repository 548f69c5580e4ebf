"""SampleGenerator: preprocessed labelled batches, picklable, seeded streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hanzi_grader.models.training.samples import SampleGenerator

pytestmark = pytest.mark.usefixtures("stroke_data")


def test_batch_is_preprocessed_and_labelled():
    generator = SampleGenerator(classes="安你好", seed=0, size=48, unknown_fraction=0.3)

    x, y = generator.batch(40)

    assert x.shape == (40, 48, 48, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x[:, :2].max() == 0.0  # the white border, inverted to black
    assert set(y.tolist()) <= {0, 1, 2, 3}
    assert generator.unknown_label == 3 and (y == 3).any() and (y < 3).any()


def test_same_seed_same_batch_and_other_streams_differ():
    def first(**kwargs):
        return SampleGenerator(classes="安你", seed=4, size=32, **kwargs).batch(6)

    x1, y1 = first()
    x2, y2 = first()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first(heldout=True)[0], x1)
    assert not np.array_equal(
        SampleGenerator(classes="安你", seed=4, size=32).for_worker(1).batch(6)[0], x1
    )


def test_generator_pickles_mid_stream():
    generator = SampleGenerator(classes="学中", seed=2, size=32)
    generator.batch(3)
    clone = pickle.loads(pickle.dumps(generator))
    np.testing.assert_array_equal(clone.batch(4)[0], generator.batch(4)[0])


def test_heldout_uses_only_heldout_fonts():
    from hanzi_grader.models.training.fonts import HELDOUT_FONTS, TRAIN_FONTS

    assert SampleGenerator(heldout=True).fonts == HELDOUT_FONTS
    assert SampleGenerator().fonts == TRAIN_FONTS
    assert not {f.path for f in HELDOUT_FONTS} & {f.path for f in TRAIN_FONTS}


def test_bad_fraction_is_refused_with_its_value():
    with pytest.raises(ValueError, match=r"1\.5"):
        SampleGenerator(unknown_fraction=1.5)


def _first_labels(generator: SampleGenerator) -> list[int]:
    return generator.batch(3)[1].tolist()


def test_generator_runs_in_a_spawned_worker_process():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    generator = SampleGenerator(classes="安你好", seed=6, size=32)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        remote = pool.submit(_first_labels, generator.for_worker(1)).result(timeout=120)
    assert remote == _first_labels(generator.for_worker(1))


def test_a_batch_drawn_with_its_own_rng_depends_only_on_that_rng():
    one = SampleGenerator(classes="安你好", seed=1, size=32)
    other = SampleGenerator(classes="安你好", seed=2, size=32)
    other.batch(5)  # a different stream position must not matter

    x1, y1 = one.batch(4, rng=np.random.default_rng(42))
    x2, y2 = other.batch(4, rng=np.random.default_rng(42))

    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_incomplete_samples_are_labelled_unknown():
    # Given the same characters drawn whole and with strokes left out
    kwargs = {"classes": ("永", "想", "酸"), "size": 32, "unknown_fraction": 0.0, "seed": 3}
    whole = SampleGenerator(**kwargs)
    broken = SampleGenerator(**kwargs, incomplete_fraction=1.0)

    # When batches are drawn from the same stream
    _, whole_y = whole.batch(24, rng=np.random.default_rng(1))
    x, y = broken.batch(24, rng=np.random.default_rng(1))

    # Then every sample of the incomplete batch is Unknown, and the whole one has none
    assert set(whole_y.tolist()) <= {0, 1, 2}
    assert set(y.tolist()) == {broken.unknown_label}
    assert x.shape == (24, 32, 32, 1) and x.max() > 0


def test_small_renders_are_drawn_small_then_enlarged_and_seeded():
    def generator(fraction: float) -> SampleGenerator:
        return SampleGenerator(classes="安宿", seed=3, size=96, unknown_fraction=0.3,
                               small_render_fraction=fraction)

    rng = np.random.default_rng(1)
    sides = [max(generator(1.0).render(int(label), rng).shape) for label in (0, 1, 2) * 8]
    assert all(43 <= side <= 87 for side in sides) and len(set(sides)) > 5
    assert max(generator(0.0).render(0, rng).shape) == 96
    x = generator(0.5).batch(12)[0]
    assert x.shape == (12, 96, 96, 1)  # preprocessing enlarges them to the input size
    np.testing.assert_array_equal(x, generator(0.5).batch(12)[0])  # deterministic for a seed
