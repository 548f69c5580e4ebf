"""Training batches as Keras ``PyDataset``s: synthetic handwriting, or CASIA-HWDB .gnt files.

``PyDataset`` runs ``__getitem__`` in worker processes, so the synthesiser's CPU work overlaps
with the training step. Each synthetic batch is drawn from a seed derived from (run seed,
epoch, batch index): a run is reproducible and a resumed run sees new data, not a replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from hanzi_grader.models.charset import UNKNOWN_INDEX, index_of, is_known
from hanzi_grader.models.preprocessing import preprocess

NUM_OUTPUTS = UNKNOWN_INDEX + 1


def one_hot(labels: Sequence[int] | np.ndarray, num_classes: int = NUM_OUTPUTS) -> np.ndarray:
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    out[np.arange(len(labels)), np.asarray(labels)] = 1.0
    return out


class SyntheticBatches(keras.utils.PyDataset):
    """``steps_per_epoch`` batches of freshly synthesised handwriting per epoch."""

    def __init__(
        self,
        *,
        classes: Sequence[str],
        input_size: int,
        batch_size: int,
        steps_per_epoch: int,
        seed: int = 0,
        unknown_fraction: float = 0.05,
        incomplete_fraction: float = 0.0,
        real_fraction: float = 0.0,
        trajectory_dir: str | None = None,
        writer_weights: str | None = None,
        small_render_fraction: float = 0.0,
        workers: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=workers > 1, **kwargs)
        self.classes = list(classes)
        self.input_size = input_size
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.unknown_fraction = unknown_fraction
        self.incomplete_fraction = incomplete_fraction
        self.real_fraction = real_fraction
        self.trajectory_dir = trajectory_dir
        self.writer_weights = writer_weights
        self.small_render_fraction = small_render_fraction
        self.epoch = 0
        self._generator = None
        # The synthesiser labels by position in ``classes`` (Unknown = len(classes)); the model's
        # outputs are always the full 3755 + Unknown, so labels are mapped to charset indices.
        self._to_output = np.array([index_of(c) for c in self.classes] + [UNKNOWN_INDEX])

    def __len__(self) -> int:
        return self.steps_per_epoch

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _sample_generator(self):
        # Built lazily so that each worker process loads the stroke data once, after the fork.
        if self._generator is None:
            from hanzi_grader.models.training.samples import SampleGenerator

            self._generator = SampleGenerator(
                classes=self.classes,
                size=self.input_size,
                unknown_fraction=self.unknown_fraction,
                incomplete_fraction=self.incomplete_fraction,
                real_fraction=self.real_fraction,
                trajectory_dir=self.trajectory_dir,
                writer_weights=self.writer_weights,
                small_render_fraction=self.small_render_fraction,
                seed=self.seed,
            )
        return self._generator

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        seed = np.random.SeedSequence([self.seed, self.epoch, index])
        rng = np.random.default_rng(seed)
        x, y = self._sample_generator().batch(self.batch_size, rng=rng)
        return x, one_hot(self._to_output[y])


class GntBatches(keras.utils.PyDataset):
    """Batches from CASIA-HWDB .gnt files, read once into memory, shuffled each epoch.

    Characters outside the 3755 become the Unknown class, as the synthetic data does.
    """

    def __init__(
        self, files: Sequence[Path], input_size: int, batch_size: int, *, seed: int = 0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        from hanzi_grader.models.training.gnt import read_gnt

        images, labels = [], []
        for path in files:
            for char, bitmap in read_gnt(path):
                images.append(preprocess(bitmap, size=input_size))
                labels.append(index_of(char) if is_known(char) else UNKNOWN_INDEX)
        if not images:
            raise ValueError(f"no samples in {', '.join(map(str, files))}")
        self.x = np.stack(images)
        self.y = np.asarray(labels)
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.y))

    def __len__(self) -> int:
        return int(np.ceil(len(self.y) / self.batch_size))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.y))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[picked], one_hot(self.y[picked])
