"""Weights for drawing more of the training writers a model reads worst.

A continuation samples every training writer alike, yet the shipped model reads some of them
far worse than others (renders of one writer 17 % top-1, of another 98 %). ``hanzi
writer-weights`` measures a model's top-1 on each training writer's renders and writes a
weight per writer for ``hanzi train --writer-weights``: the square root of the writer's error
rate over the mean, so that a writer read half as well is drawn about 1.4 times as often, and
no writer less than a quarter or more than twice as often as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hanzi_grader.models.charset import index_of
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.training.scoring import forward
from hanzi_grader.models.training.trajectories import Trajectories, render_trajectory
from tqdm import tqdm

from hanzi_grader.errors import InvalidImage

WEIGHTS_SEED = 4242  # a stream of its own: no calibration or evaluation set repeats it
RATIO_RANGE = (1 / 16, 4.0)  # of a writer's error rate to the mean, before the square root


def writer_renders(trajectories: Trajectories, per_writer: int, size: int, *,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_writer`` random samples of each writer, rendered and preprocessed at ``size``:
    (images (n, size, size, 1) float32, class indices (n,), writers (n,))."""
    rng = np.random.default_rng(WEIGHTS_SEED)
    images, labels, writers = [], [], []
    for writer in tqdm(np.unique(trajectories.writers), desc="writers", disable=not progress):
        rows = np.flatnonzero(trajectories.writers == writer)
        for k in rng.choice(rows, min(per_writer, len(rows)), replace=False):
            sample = trajectories.sample(int(k))
            try:
                images.append(preprocess(render_trajectory(sample, rng, size=size), size))
            except InvalidImage:
                continue  # a render too faint to find ink in
            labels.append(index_of(sample.char))
            writers.append(int(writer))
    return np.stack(images), np.array(labels), np.array(writers)


def top1_of_writers(model, trajectories: Trajectories, per_writer: int, *,
                    progress: bool = True) -> dict[int, float]:
    """The model's top-1 on renders of each writer of ``trajectories``."""
    images, labels, writers = writer_renders(trajectories, per_writer, model.input_shape[1],
                                             progress=progress)
    hits = forward(model, images, desc="reading", progress=progress).top(1)[:, 0] == labels
    return {int(w): float(hits[writers == w].mean()) for w in np.unique(writers)}


def weights_from_top1(top1: dict[int, float]) -> dict[int, float]:
    """Each writer's sampling weight: sqrt of its error rate over the writers' mean."""
    errors = {writer: 1.0 - value for writer, value in top1.items()}
    mean = float(np.mean(list(errors.values())))
    if mean <= 0:
        return dict.fromkeys(errors, 1.0)
    return {writer: round(float(np.sqrt(np.clip(error / mean, *RATIO_RANGE))), 4)
            for writer, error in errors.items()}


def write_writer_weights(model_path: Path, out: Path, trajectory_dir: Path, per_writer: int,
                         *, progress: bool = True) -> dict[int, float]:
    """Measure ``model_path`` on the training writers and write their weights to ``out``."""
    from hanzi_grader.models.training.train import load_model_file
    from hanzi_grader.models.training.trajectories import shared_trajectories

    model = load_model_file(model_path)
    top1 = top1_of_writers(model, shared_trajectories(str(trajectory_dir), "training"),
                           per_writer, progress=progress)
    weights = weights_from_top1(top1)
    out.write_text(json.dumps({str(w): v for w, v in sorted(weights.items())}, indent=1))
    return top1
