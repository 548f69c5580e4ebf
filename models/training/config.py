"""The settings of a training run and of a calibration, with their defaults.

Kept apart from the code that runs them (TensorFlow, the synthesiser), so that the ``hanzi``
command line takes its option defaults from here and still starts at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hanzi_grader.models.charset import CLASSES

RUN_CONFIG_FILE = "config.json"  # a run folder's TrainConfig, as JSON


@dataclass
class TrainConfig:
    """Everything that defines a training run; written to ``run_dir/config.json``."""

    run_dir: Path
    arch: str = "melnyk-compact-48"
    input_size: int | None = None  # must match the architecture's; None: its own
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    samples_per_class: int = 100
    batch_size: int = 128
    steps_per_epoch: int = 250
    optimizer: str = "adamw"  # or "sgd": the seed's recipe (momentum 0.9, lr 0.1, step decay)
    learning_rate: float | None = None  # None: 2e-3 for adamw, 0.1 for sgd
    warmup_steps: int = 1000
    label_smoothing: float = 0.1
    # Momentum of an exponential moving average of the weights (Polyak averaging), which the
    # run saves instead of the last step's weights; 0: off. 0.999 averages about the last
    # thousand steps, smoothing out the noise of a continuation's last epochs.
    ema_momentum: float = 0.0
    unknown_fraction: float = 0.05
    incomplete_fraction: float = 0.0  # share of one-stroke-missing renders labelled Unknown
    seed: int = 0
    workers: int = 2
    gnt_files: list[Path] = field(default_factory=list)
    # Share of class samples drawn from real writers' pen trajectories; the rest are the
    # synthesiser's handwriting, brush and fonts. 0 is the synthetic-only recipe.
    real_fraction: float = 0.7
    trajectory_dir: Path | None = None  # the olhwdb11 parts; None: default_trajectory_dir()
    # A JSON file of writer number to weight (``hanzi writer-weights``): a class's real samples
    # are drawn in proportion to their writer's weight, e.g. more of the writers it misreads.
    writer_weights: Path | None = None
    # Share of samples drawn small and enlarged, as small scanned cells are at a large input.
    small_render_fraction: float = 0.0
    mixed_precision: bool = False
    # Compile the training step with XLA (Keras leaves it off on CPUs).
    xla: bool = True
    # Blocks 1..N keep their starting weights (with init_from): a step costs about half.
    frozen_blocks: int = 0
    # A .keras model (or a bundle directory) of the same architecture to start from, so a
    # new machine, which has none of an earlier run's checkpoints, can continue its training.
    init_from: Path | None = None
    # sha256 of init_from's model file when the run started: average-weights refuses a file
    # that has changed since (a bundle folder is replaced when a newer bundle ships).
    init_from_sha256: str | None = None

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def epochs(self) -> int:
        samples = self.samples_per_class * len(self.classes)
        return max(1, math.ceil(samples / (self.batch_size * self.steps_per_epoch)))

    def to_json(self) -> str:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["gnt_files"] = [str(p) for p in self.gnt_files]
        data["init_from"] = str(self.init_from) if self.init_from else None
        data["trajectory_dir"] = str(self.trajectory_dir) if self.trajectory_dir else None
        data["writer_weights"] = str(self.writer_weights) if self.writer_weights else None
        return json.dumps(data, ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class CalibrationConfig:
    templates_per_class: int = 10
    calibration_cases: int = 6000
    false_accept: float = 0.05
    incomplete_false_accept: float = 0.2
    max_correct_unknown: float = 0.03
    # Stress-regime cases whose correct renders share max_correct_unknown; 0: none.
    stress_cases: int = 3000
    batch_size: int = 256
    stroke_renders: int = 24  # per class and stroke; 0: no stroke templates
    reference_renders: int = 32  # whole pen renders per class: the stroke margins' reference
    workers: int = 2  # processes rendering the stroke templates
    outside_renders: int = 5  # per character outside the 3755; 0: no outside templates
    # Share of the class templates (training writers) and of the calibration cases (the
    # calibration writers, held out of training) drawn from real writers' trajectories.
    real_fraction: float = 0.7
    trajectory_dir: Path | None = None  # None: default_trajectory_dir()
    # One-stroke-missing cases, of the synthesiser and (with real_fraction) of the calibration
    # writers each, on which the missing-stroke naming thresholds are chosen; 0: the defaults.
    missing_stroke_cases: int = 1000


def default_of(config: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``config`` (for command-line options)."""
    for item in fields(config):
        if item.name == name:
            if item.default is MISSING:
                raise ValueError(f"{config.__name__}.{name} has no plain default")
            return item.default
    raise ValueError(f"{config.__name__} has no field {name!r}")
