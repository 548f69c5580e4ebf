"""A trained classifier -> a model bundle: templates from renders no training run drew, and
thresholds chosen on a separate calibration set for stated false-accept rates.

Thresholds, in the order they are chosen:

1. ``accept_similarity``: the lowest similarity at which at most ``false_accept`` of wrong
   characters (random and look-alike) and at most ``incomplete_false_accept`` of
   one-stroke-missing renders are accepted.
2. ``unknown_confidence``: the top known probability under which input counts as "not a known
   character": at most ``false_accept`` of out-of-set input passes as known, yet no more than
   ``max_correct_unknown`` of correct renders are called Unknown.
3. ``wrong_similarity``: between the wrong characters' and the incomplete renders'
   similarities, where both are misfiled equally often (so a missing stroke reads as
   ``incomplete_or_unclear``, another character as ``wrong_character``).
4. ``wrong_confidence``: the same as ``unknown_confidence``: a known class confident enough to
   be a character at all clearly wins over a dissimilar target.

Steps 1 and 3 apply to the match score (``models.verifier``); its ``class_weight`` is the one
of ``CLASS_WEIGHTS`` whose accept threshold accepts the most correct renders and rejects the
most wrong characters on the calibration set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.charset import LEVEL1_COUNT, UNKNOWN_INDEX
from models.training.probes import VerificationSet, make_verification_set
from models.training.scoring import Outputs, forward, knownness, similarities, verifier_rates
from models.training.thresholds import threshold_for_false_accept
from models.verifier import Thresholds, build_templates, match_scores

# Seeds of the synthetic sets: distinct from every training run's (which count up from 0 in
# steps of 1000 per restart), so no calibration or template image was ever trained on.
TEMPLATE_SEED = 900_001
CALIBRATION_SEED = 900_002

# Candidate weights of log P(target) in the match score; 0 is the cosine alone.
CLASS_WEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class CalibrationConfig:
    templates_per_class: int = 10
    calibration_cases: int = 6000
    false_accept: float = 0.05
    incomplete_false_accept: float = 0.2
    max_correct_unknown: float = 0.02
    batch_size: int = 256


def template_images(size: int, per_class: int, *, seed: int = TEMPLATE_SEED) -> np.ndarray:
    """(3755 * per_class, size, size, 1) renders in the training style, class by class."""
    from models.training.samples import SampleGenerator

    generator = SampleGenerator(seed=seed, size=size, unknown_fraction=0.0)
    rng = np.random.default_rng([seed, 1])
    images = np.empty((LEVEL1_COUNT * per_class, size, size, 1), dtype=np.float32)
    for label in tqdm(range(LEVEL1_COUNT), desc="template renders", unit="class"):
        for k in range(per_class):
            images[label * per_class + k] = generator.sample(label, rng)
    return images


def make_templates(model: Any, size: int, cfg: CalibrationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(templates (3755, dim), mask) from fresh renders of every class."""
    images = template_images(size, cfg.templates_per_class)
    labels = np.repeat(np.arange(LEVEL1_COUNT), cfg.templates_per_class)
    outputs = forward(model, images, batch_size=cfg.batch_size, desc="template embeddings")
    return build_templates(outputs.embeddings, labels, LEVEL1_COUNT)


def choose_thresholds(
    cases: VerificationSet, outputs: Outputs, templates: np.ndarray, cfg: CalibrationConfig
) -> Thresholds:
    """The operating point described in this module's docstring."""
    sims = similarities(outputs, templates, cases.targets)
    correct, wrong = cases.where("correct"), cases.where("wrong", "similar")
    incomplete = cases.where("incomplete")

    def operating_point(weight: float) -> tuple[float, float, np.ndarray]:
        scores = match_scores(
            sims, outputs.probabilities, cases.targets, weight, UNKNOWN_INDEX
        )
        accept = max(
            threshold_for_false_accept(scores[correct], scores[wrong], cfg.false_accept).threshold,
            threshold_for_false_accept(
                scores[correct], scores[incomplete], cfg.incomplete_false_accept
            ).threshold,
        )
        merit = float((scores[correct] >= accept).mean() + (scores[wrong] < accept).mean())
        return merit, float(accept), scores

    points = {weight: operating_point(weight) for weight in CLASS_WEIGHTS}
    weight = max(points, key=lambda w: points[w][0])
    _, accept, scores = points[weight]
    known = knownness(outputs)
    known_correct, known_unknown = known[correct], known[cases.where("unknown")]
    unknown_confidence = min(
        threshold_for_false_accept(known_correct, known_unknown, cfg.false_accept).threshold,
        float(np.quantile(known_correct, cfg.max_correct_unknown)),
    )
    return Thresholds(
        accept_similarity=accept,
        wrong_similarity=min(accept, equal_error_threshold(scores[incomplete], scores[wrong])),
        unknown_confidence=float(max(unknown_confidence, 0.0)),
        wrong_confidence=float(max(unknown_confidence, 0.0)),
        class_weight=float(weight),
    )


def equal_error_threshold(high: np.ndarray, low: np.ndarray) -> float:
    """The observed score at which the share of ``high`` under it is closest to the share of
    ``low`` at or over it."""
    candidates = np.unique(np.concatenate([high, low]))
    high_under = np.searchsorted(np.sort(high), candidates, side="left") / max(len(high), 1)
    low_over = 1 - np.searchsorted(np.sort(low), candidates, side="left") / max(len(low), 1)
    return float(candidates[int(np.argmin(np.abs(high_under - low_over)))])


def calibrate(
    model_path: Path,
    bundle_dir: Path,
    *,
    arch: str,
    version: str,
    cfg: CalibrationConfig | None = None,
    training: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build templates and thresholds for the model in ``model_path``; write the bundle.

    Returns the bundle path and the calibration report stored in its manifest.
    """
    import keras

    import models.melnyk_net  # noqa: F401  registers GlobalWeightedAveragePooling2D
    from models.bundle import save_bundle, serving_model
    from models.melnyk_net import input_size_of

    cfg = cfg or CalibrationConfig()
    # Templates and thresholds from the very model the bundle will hold.
    model = serving_model(keras.saving.load_model(model_path, compile=False))
    size = input_size_of(model)
    templates, mask = make_templates(model, size, cfg)
    cases = make_verification_set(cfg.calibration_cases, size=size, seed=CALIBRATION_SEED)
    outputs = forward(model, cases.images, batch_size=cfg.batch_size, desc="calibration set")
    thresholds = choose_thresholds(cases, outputs, templates, cfg)
    report = {
        "templates_per_class": cfg.templates_per_class,
        "calibration_cases": len(cases),
        "stated_false_accept": cfg.false_accept,
        "stated_incomplete_false_accept": cfg.incomplete_false_accept,
        "rates": verifier_rates(cases, outputs, templates, thresholds),
    }
    path = save_bundle(
        bundle_dir,
        model=model,
        architecture=arch,
        templates=templates,
        template_mask=mask,
        thresholds=thresholds,
        version=version,
        trained=True,
        training=training or {},
        evaluation={"calibration": report},
    )
    return path, report

