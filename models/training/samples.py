"""The training loop's source of samples: labelled, preprocessed batches made on the fly.

``SampleGenerator`` holds only plain settings and a seeded ``np.random.Generator``, so it
pickles and can be sent to (or built inside) spawned worker processes; each process loads the
stroke data once. Give every worker its own stream with ``for_worker(i)``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from hanzi_grader.models.charset import CLASSES
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.training.brush import render_outline_character
from hanzi_grader.models.training.fonts import (
    HELDOUT_FONTS,
    TRAIN_FONTS,
    FontSpec,
    render_font_character,
)
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.medians import prepared_character
from hanzi_grader.models.training.synth import render_character
from hanzi_grader.models.training.trajectories import (
    Trajectories,
    render_trajectory,
    shared_trajectories,
)
from hanzi_grader.models.training.unknowns import render_unknown

from hanzi_grader.errors import InvalidImage

# Separate seed spaces: a training seed never reproduces an evaluation sample.
TRAIN_STREAM = 0
HELDOUT_STREAM = 1
MAX_ATTEMPTS = 8
# Small renders: real-dev's cells (60-110 px) enlarged to a 96-pixel input by up to 2x.
SMALL_RENDER_SCALE = (0.45, 0.9)
MIN_SMALL_RENDER = 24


@dataclass
class SampleGenerator:
    """Endless labelled samples of ``classes`` plus an Unknown class.

    Labels are positions in ``classes``; the Unknown class is ``len(classes)`` (3755 for the
    full character set). A share ``unknown_fraction`` of samples is Unknown, a share
    ``font_fraction`` of the class samples comes from distorted fonts, ``brush_fraction`` from
    the stroke outlines (a brush), the rest from the pen synthesiser. A share
    ``incomplete_fraction`` of a batch is a class character with one or two strokes left out,
    labelled Unknown: it teaches the network that a missing stroke is not a way of writing
    the character, which the verifier's similarity alone barely tells apart. ``heldout=True``
    switches to evaluation's seed space and to the held-out fonts (a style never seen in
    training); pass ``style=HandwritingStyle.stress()`` for a harsher handwriting regime too.
    """

    classes: Sequence[str] = CLASSES
    seed: int = 0
    size: int = 96
    unknown_fraction: float = 0.05
    font_fraction: float = 0.2
    brush_fraction: float = 0.1
    incomplete_fraction: float = 0.0
    style: HandwritingStyle | None = None
    heldout: bool = False
    render_size: int | None = None  # long side of the raw render; defaults to ``size``
    worker: int = 0
    # Share of class samples drawn from real writers' trajectories (``trajectory_dir``), by
    # the writers of ``real_writers`` (``trajectories.WRITER_SETS``).
    real_fraction: float = 0.0
    trajectory_dir: str | None = None
    real_writers: str = "training"
    # A JSON file of writer number to weight: real samples are drawn in proportion to it.
    writer_weights: str | None = None
    # Share of samples drawn at SMALL_RENDER_SCALE of their size and enlarged by preprocessing,
    # soft-edged as a small scanned cell is at a larger input (see the training journal,
    # 6 December evening: a 96-pixel network that never saw them misread real-dev).
    small_render_fraction: float = 0.0
    # The writer of the last render when it was a real writer's sample, else None: what
    # evaluation counts per writer.
    last_writer: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        if not self.classes:
            raise ValueError("classes is empty")
        fractions = (self.unknown_fraction, self.font_fraction, self.brush_fraction,
                     self.incomplete_fraction, self.real_fraction, self.small_render_fraction)
        if (not all(0.0 <= f <= 1.0 for f in fractions)
                or self.font_fraction + self.brush_fraction > 1.0):
            raise ValueError(
                f"fractions must lie in [0, 1] (font + brush at most 1), got "
                f"unknown_fraction={self.unknown_fraction}, font_fraction={self.font_fraction}, "
                f"brush_fraction={self.brush_fraction}, "
                f"incomplete_fraction={self.incomplete_fraction}, "
                f"real_fraction={self.real_fraction}, "
                f"small_render_fraction={self.small_render_fraction}"
            )
        if self.real_fraction and not self.trajectory_dir:
            raise ValueError("real_fraction > 0 needs trajectory_dir (the olhwdb11 parts)")
        if self.style is None:
            self.style = HandwritingStyle()
        stream = HELDOUT_STREAM if self.heldout else TRAIN_STREAM
        self.rng = np.random.default_rng([self.seed, stream, self.worker])

    @property
    def unknown_label(self) -> int:
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        return len(self.classes) + 1

    @property
    def fonts(self) -> tuple[FontSpec, ...]:
        return HELDOUT_FONTS if self.heldout else TRAIN_FONTS

    @property
    def trajectories(self) -> Trajectories:
        """The real writers' samples (loaded once per process, on first use)."""
        return shared_trajectories(str(self.trajectory_dir), self.real_writers,
                                   self.writer_weights)

    def for_worker(self, index: int) -> SampleGenerator:
        """A copy with its own independent random stream, for worker process ``index``."""
        clone = copy.copy(self)
        clone.worker = index
        clone.__post_init__()
        return clone

    def render(self, label: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """One raw (not preprocessed) uint8 sample of class ``label``."""
        rng = rng or self.rng
        size = self.render_size or self.size
        # Drawn only when asked for, so that other streams (evaluation, calibration) stay as
        # they were.
        if self.small_render_fraction and rng.random() < self.small_render_fraction:
            size = max(MIN_SMALL_RENDER, round(size * rng.uniform(*SMALL_RENDER_SCALE)))
        self.last_writer = None
        if label == self.unknown_label:
            return render_unknown(rng, size=size, style=self.style, fonts=self.fonts)[0]
        char = self.classes[label]
        if self.real_fraction and rng.random() < self.real_fraction:
            sample = self.trajectories.of_class(char, rng)
            if sample is not None:
                self.last_writer = sample.writer
                return render_trajectory(sample, rng, size=size)
        source = rng.random()
        if source < self.font_fraction:
            return render_font_character(char, rng, fonts=self.fonts, size=size, style=self.style)
        if source < self.font_fraction + self.brush_fraction:
            return render_outline_character(char, rng, size=size, style=self.style)
        return render_character(char, rng, size=size, style=self.style)

    def sample(self, label: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """One preprocessed sample (size, size, 1) of class ``label`` (re-drawn if inkless)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return preprocess(self.render(label, rng), self.size)
            except InvalidImage:
                continue  # a render the preprocessing sees as blank: draw another
        raise RuntimeError(f"{MAX_ATTEMPTS} renders of label {label} in a row had no ink")

    def labels(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` labels: Unknown with probability ``unknown_fraction``, else a uniform class."""
        rng = rng or self.rng
        y = rng.integers(0, len(self.classes), n)
        y[rng.random(n) < self.unknown_fraction] = self.unknown_label
        return y

    def batch(
        self, n: int, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: x float32 (n, size, size, 1) preprocessed, y int64 labels.

        With ``rng`` the batch depends only on it (e.g. seeded by epoch and batch index, so
        any worker can make any batch); without, the generator's own stream advances.
        """
        rng = rng or self.rng
        y = self.labels(n, rng)
        # Drawn only when asked for, so that runs without incomplete samples keep their streams.
        incomplete = (rng.random(n) < self.incomplete_fraction if self.incomplete_fraction
                      else np.zeros(n, dtype=bool)) & (y != self.unknown_label)
        x = np.empty((n, self.size, self.size, 1), dtype=np.float32)
        for i, label in enumerate(y):
            image = self.incomplete(int(label), rng) if incomplete[i] else None
            x[i] = self.sample(int(label), rng) if image is None else image
        y[incomplete] = self.unknown_label
        return x, y

    def real_incomplete(self, label: int, rng: np.random.Generator) -> np.ndarray | None:
        """One preprocessed real sample of class ``label`` with one pen stroke left out, or
        None when the writer drew it in a single stroke (or what is left has no ink)."""
        sample = self.trajectories.of_class(self.classes[label], rng)
        if sample is None or len(sample.strokes) < 2:
            return None
        missing = int(rng.integers(len(sample.strokes)))
        image = render_trajectory(sample, rng, size=self.render_size or self.size,
                                  omit_strokes=(missing,))
        try:
            return preprocess(image, self.size)
        except InvalidImage:
            return None

    def incomplete(self, label: int, rng: np.random.Generator) -> np.ndarray | None:
        """One preprocessed sample of class ``label`` missing one stroke (now and then two),
        or None when the character has too few strokes to leave any out."""
        n_strokes = prepared_character(self.classes[label]).n_strokes
        n_missing = min(1 + int(rng.random() < 0.25), n_strokes - 1)
        if n_missing < 1:
            return None
        image, _ = incomplete_sample(self.classes[label], rng, n_missing,
                                     size=self.render_size or self.size, style=self.style)
        try:
            return preprocess(image, self.size)
        except InvalidImage:
            return None


def incomplete_sample(
    char: str,
    rng: np.random.Generator,
    n_missing: int = 1,
    *,
    size: int = 96,
    style: HandwritingStyle | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """``char`` handwritten with ``n_missing`` strokes left out: (uint8 image, their indices).

    The rest of the character stays where it would have been, and no joining trail passes
    through a missing stroke, so the missing strokes' ink is really gone.
    """
    n_strokes = prepared_character(char).n_strokes
    if not 1 <= n_missing < n_strokes:
        raise ValueError(
            f"{char!r} has {n_strokes} strokes; cannot leave out {n_missing} and keep any"
        )
    missing = tuple(sorted(int(i) for i in rng.choice(n_strokes, n_missing, replace=False)))
    image = render_character(char, rng, size=size, omit_strokes=missing, style=style)
    return image, missing
