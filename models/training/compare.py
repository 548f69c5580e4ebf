"""Choosing among trained models before calibrating one: top-1 and top-5 of each on renders
of the calibration writers (1221-1230).

A continuation, the model it started from and soups of the two at several weights differ by
a point or less; calibration takes 20 minutes a candidate. These writers are held out of
training, and they are neither the evaluation writers nor real-dev, which judge the chosen
bundle, so choosing here leaves those figures honest. Every model sees the same renders, so
differences between models are paired: ``wins``/``losses`` count the renders one model reads
and another does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hanzi_grader.models.charset import index_of
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.training.scoring import forward
from hanzi_grader.models.training.trajectories import render_trajectory, shared_trajectories
from tqdm import tqdm

from hanzi_grader.errors import InvalidImage

COMPARE_SEED = 900_009  # a stream of its own: no calibration or evaluation set repeats it


@dataclass(frozen=True)
class ModelScore:
    """One model's figures on the renders; ``correct`` marks each render read right."""

    path: Path
    top1: float
    top5: float
    correct: np.ndarray  # (n,) bool

    def versus(self, other: ModelScore) -> tuple[int, int]:
        """(renders this model reads and ``other`` does not, the reverse)."""
        return (int((self.correct & ~other.correct).sum()),
                int((other.correct & ~self.correct).sum()))


def calibration_writer_renders(n: int, size: int, trajectory_dir: Path, *,
                               progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random samples of the calibration writers, rendered and preprocessed at ``size``:
    (images (n, size, size, 1) float32, class indices (n,))."""
    trajectories = shared_trajectories(str(trajectory_dir), "calibration")
    rng = np.random.default_rng(COMPARE_SEED)
    images, labels = [], []
    with tqdm(total=n, desc="calibration writers", disable=not progress) as bar:
        while len(images) < n:
            sample = trajectories.sample(int(rng.integers(len(trajectories))))
            try:
                images.append(preprocess(render_trajectory(sample, rng, size=size), size))
            except InvalidImage:
                continue  # a render too faint to find ink in: draw another sample
            labels.append(index_of(sample.char))
            bar.update()
    return np.stack(images), np.array(labels)


def compare_models(model_paths: list[Path], n: int, trajectory_dir: Path, *,
                   progress: bool = True) -> list[ModelScore]:
    """Each model's top-1/top-5 on the same ``n`` renders (models of one input size)."""
    from hanzi_grader.models.training.train import load_model_file

    models = [load_model_file(path) for path in model_paths]
    sizes = {model.input_shape[1] for model in models}
    if len(sizes) != 1:
        raise ValueError(f"the models take different input sizes ({sorted(sizes)}); "
                         "compare models of one size")
    images, labels = calibration_writer_renders(n, sizes.pop(), trajectory_dir,
                                                progress=progress)
    scores = []
    for path, model in zip(model_paths, models, strict=True):
        top5 = forward(model, images, desc=str(path), progress=progress).top(5)
        hits = top5 == labels[:, None]
        scores.append(ModelScore(Path(path), float(hits[:, 0].mean()),
                                 float(hits.any(axis=1).mean()), hits[:, 0]))
    return scores


def format_scores(scores: list[ModelScore]) -> str:
    """A table, the first model as the reference the others are paired against."""
    n = len(scores[0].correct)
    rows = [f"{'model':<40} {'top-1':>7} {'top-5':>7}  wins/losses vs first (n={n})"]
    for score in scores:
        wins, losses = score.versus(scores[0])
        paired = "" if score is scores[0] else f"{wins}/{losses}"
        rows.append(f"{score.path!s:<40} {score.top1:>7.2%} {score.top5:>7.2%}  {paired}")
    return "\n".join(rows)
