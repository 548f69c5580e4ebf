"""A trained classifier -> a model bundle: templates from renders no training run drew, and
thresholds chosen on a separate calibration set for stated false-accept rates.

Thresholds, in the order they are chosen:

1. ``accept_similarity``: the lowest similarity at which at most ``false_accept`` of wrong
   characters (random and look-alike) and at most ``incomplete_false_accept`` of
   one-stroke-missing renders are accepted.
2. ``outside_weight``, ``known_share``, ``unknown_probability`` and ``unknown_confidence``: the
   Unknown score at or over which, and the top known probability under which, input counts as
   "not a known character": no more than ``max_correct_unknown`` of correct renders are
   called Unknown, the Unknown score taking that allowance first (see
   ``choose_unknown_thresholds``). The correct renders of a second set in the harsher stress
   regime share the allowance: real writing lies further from the training renders than the
   calibration set does.
3. ``wrong_similarity``: between the wrong characters' and the incomplete renders'
   similarities, where both are misfiled equally often (so a missing stroke reads as
   ``incomplete_or_unclear``, another character as ``wrong_character``).
4. ``wrong_confidence``: the same as ``unknown_confidence``: a known class confident enough to
   be a character at all clearly wins over a dissimilar target.

Steps 1 and 3 apply to the match score (``models.verifier``). With stroke templates, step 1
keeps out wrong characters alone, and the completeness gate's ``stroke_threshold`` is then the
lowest at which at most ``incomplete_false_accept`` of the one-stroke-missing renders pass
both gates. ``class_weight`` and ``stroke_weight`` are the pair of ``CLASS_WEIGHTS`` x
``STROKE_WEIGHTS`` whose thresholds accept the most correct renders and reject the most wrong
characters on the calibration set.

Stroke templates: for every class and each of its strokes, ``stroke_renders`` pen renders with
that stroke left out, and as their reference the class's full template from
``reference_renders`` whole pen renders (the stroke-missing renders can only come from the pen,
so the two sides of the margin are drawn alike). The reference is shared by all of a class's
strokes, so its noise shifts every margin of the class at once: it gets more renders.

Naming the missing stroke: ``missing_stroke_sharpness`` and ``missing_stroke_confidence`` are
chosen last, on one-stroke-missing renders of the synthesiser and the calibration writers
(``missing_strokes.calibrate_missing_strokes``), for at least 82 % of the named strokes right
in each.

Outside templates: ``outside_renders`` renders of each character with stroke data outside the
3755, in the training mix of pen, brush and font, for the Unknown score's outside gap.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.models.charset import CLASSES, LEVEL1_COUNT, UNKNOWN_INDEX
from hanzi_grader.models.training.config import CalibrationConfig
from hanzi_grader.models.training.probes import VerificationSet, make_verification_set
from hanzi_grader.models.training.scoring import (
    Outputs,
    forward,
    knownness,
    similarities,
    verifier_rates,
)
from hanzi_grader.models.training.thresholds import threshold_allowing, threshold_for_false_accept
from hanzi_grader.models.verifier import (
    StrokeTemplates,
    Thresholds,
    build_stroke_templates,
    build_templates,
    completeness_scores,
    gap_of_nearest,
    match_scores,
    nearest_similarities,
    unknown_scores,
)
from tqdm import tqdm

# Seeds of the synthetic sets: distinct from every training run's (which count up from 0 in
# steps of 1000 per restart), so no calibration or template image was ever trained on.
TEMPLATE_SEED = 900_001
CALIBRATION_SEED = 900_002
STROKE_TEMPLATE_SEED = 900_004
OUTSIDE_TEMPLATE_SEED = 900_005
STRESS_CALIBRATION_SEED = 900_006

# Candidate weights of log P(target) and of the stroke margin in the match score; (0, 0) is
# the cosine alone.
CLASS_WEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
STROKE_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 50.0)
# Candidate weights of the outside gap in the Unknown score, and shares of the nearest known
# template's similarity in the gap (1: the plain difference, first on a tie).
OUTSIDE_WEIGHTS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
KNOWN_SHARES = (1.0, 0.75, 0.5, 0.25, 0.0)
# Classes rendered per round of stroke templates: bounds memory, keeps both cores busy.
STROKE_CHUNK = 64


def template_images(
    size: int, per_class: int, *, seed: int = TEMPLATE_SEED, real_fraction: float = 0.0,
    trajectory_dir: Path | None = None,
) -> np.ndarray:
    """(3755 * per_class, size, size, 1) renders in the training style, class by class; a
    ``real_fraction`` of them the training writers' trajectories."""
    from hanzi_grader.models.training.samples import SampleGenerator

    generator = SampleGenerator(seed=seed, size=size, unknown_fraction=0.0,
                                real_fraction=real_fraction,
                                trajectory_dir=str(trajectory_dir) if trajectory_dir else None)
    rng = np.random.default_rng([seed, 1])
    images = np.empty((LEVEL1_COUNT * per_class, size, size, 1), dtype=np.float32)
    for label in tqdm(range(LEVEL1_COUNT), desc="template renders", unit="class"):
        for k in range(per_class):
            images[label * per_class + k] = generator.sample(label, rng)
    return images


def make_templates(model: Any, size: int, cfg: CalibrationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(templates (3755, dim), mask) from fresh renders of every class."""
    images = template_images(size, cfg.templates_per_class, real_fraction=cfg.real_fraction,
                             trajectory_dir=cfg.trajectory_dir)
    labels = np.repeat(np.arange(LEVEL1_COUNT), cfg.templates_per_class)
    outputs = forward(model, images, batch_size=cfg.batch_size, desc="template embeddings")
    return build_templates(outputs.embeddings, labels, LEVEL1_COUNT)


def make_outside_templates(model: Any, size: int, cfg: CalibrationConfig) -> np.ndarray:
    """(n, dim) templates of the characters outside the 3755 from ``cfg.outside_renders``
    fresh renders of each (characters no render of which has ink are left out)."""
    from hanzi_grader.models.training.samples import SampleGenerator
    from hanzi_grader.models.training.unknowns import other_characters

    chars = other_characters()
    generator = SampleGenerator(classes=chars, seed=OUTSIDE_TEMPLATE_SEED, size=size,
                                unknown_fraction=0.0)
    rng = np.random.default_rng([OUTSIDE_TEMPLATE_SEED, 1])
    images, labels = [], []
    for label in tqdm(range(len(chars)), desc="outside renders", unit="char"):
        for _ in range(cfg.outside_renders):
            try:
                images.append(generator.sample(label, rng))
            except (RuntimeError, ValueError):
                continue  # no ink in any attempt, or no font holds it: one render fewer
            labels.append(label)
    outputs = forward(model, np.stack(images), batch_size=cfg.batch_size,
                      desc="outside embeddings")
    templates, mask = build_templates(outputs.embeddings, np.asarray(labels), len(chars))
    return templates[mask]


def _render_stroke_job(job: tuple[int, int, int, int]) -> np.ndarray | None:
    """One preprocessed pen render of class ``job[0]`` without stroke ``job[1]`` (-1: none)."""
    from hanzi_grader.models.preprocessing import preprocess
    from hanzi_grader.models.training.synth import render_character

    from hanzi_grader.errors import InvalidImage

    label, stroke, index, size = job
    rng = np.random.default_rng([STROKE_TEMPLATE_SEED, label, stroke + 1, index])
    omit = () if stroke < 0 else (stroke,)
    try:
        return preprocess(render_character(CLASSES[label], rng, size=2 * size, omit_strokes=omit),
                          size)
    except InvalidImage:
        return None  # all that is left is too faint to read: the template goes without it


def _stroke_jobs(
    labels: Sequence[int], per: int, reference: int, size: int
) -> list[tuple[int, int, int, int]]:
    """(class, stroke left out or -1 for none, render index, size) for each render a round of
    classes needs: ``reference`` whole renders and ``per`` for each stroke left out; a
    one-stroke character has nothing to leave out and still be a character."""
    from hanzi_grader.models.training.medians import prepared_character

    jobs = []
    for label in labels:
        n = prepared_character(CLASSES[label]).n_strokes
        if n > 1:
            jobs += [(label, -1, k, size) for k in range(reference)]
            jobs += [(label, stroke, k, size) for stroke in range(n) for k in range(per)]
    return jobs


def make_stroke_templates(
    model: Any,
    size: int,
    cfg: CalibrationConfig,
    classes: Sequence[int] | None = None,
) -> StrokeTemplates:
    """Stroke templates for ``classes`` (default: all 3755) from pen renders, made in
    ``cfg.workers`` processes while the model embeds the previous round."""
    classes = list(range(LEVEL1_COUNT)) if classes is None else list(classes)
    rounds = [_stroke_jobs(classes[start : start + STROKE_CHUNK], cfg.stroke_renders,
                           cfg.reference_renders, size)
              for start in range(0, len(classes), STROKE_CHUNK)]
    embeddings, owners, strokes = [], [], []
    context = multiprocessing.get_context("fork")
    with context.Pool(cfg.workers) as pool, tqdm(total=len(classes), desc="stroke templates",
                                                  unit="class") as bar:
        pending = pool.map_async(_render_stroke_job, rounds[0], chunksize=32) if rounds else None
        for index, jobs in enumerate(rounds):
            images = pending.get()
            if index + 1 < len(rounds):
                pending = pool.map_async(_render_stroke_job, rounds[index + 1], chunksize=32)
            kept = [i for i, image in enumerate(images) if image is not None]
            if kept:
                outputs = forward(model, np.stack([images[i] for i in kept]),
                                  batch_size=cfg.batch_size, progress=False)
                embeddings.append(outputs.embeddings)
                owners += [jobs[i][0] for i in kept]
                strokes += [jobs[i][1] for i in kept]
            bar.update(min(STROKE_CHUNK, len(classes) - index * STROKE_CHUNK))
    if not embeddings:
        dim = forward(model, np.zeros((1, size, size, 1), np.float32)).embeddings.shape[1]
        return StrokeTemplates.empty(LEVEL1_COUNT, dim)
    embeddings_all = np.concatenate(embeddings)
    owners_array, strokes_array = np.asarray(owners), np.asarray(strokes)
    whole = strokes_array < 0
    pen_templates, _ = build_templates(embeddings_all[whole], owners_array[whole], LEVEL1_COUNT)
    return build_stroke_templates(
        embeddings_all[~whole], owners_array[~whole], strokes_array[~whole], pen_templates
    )


def choose_thresholds(
    cases: VerificationSet,
    outputs: Outputs,
    templates: np.ndarray,
    cfg: CalibrationConfig,
    strokes: StrokeTemplates | None = None,
    outside: np.ndarray | None = None,
    stress: tuple[VerificationSet, Outputs] | None = None,
) -> Thresholds:
    """The operating point described in this module's docstring; ``stress`` holds the
    stress-regime cases whose correct renders share the Unknown allowance."""
    sims = similarities(outputs, templates, cases.targets)
    margins = (strokes.margins(outputs.embeddings, cases.targets) if strokes is not None
               else np.zeros(len(cases), dtype=np.float32))
    correct, wrong = cases.where("correct"), cases.where("wrong", "similar")
    incomplete = cases.where("incomplete")
    allowed_incomplete = int(np.floor(cfg.incomplete_false_accept * incomplete.sum()))

    def operating_point(class_weight: float, stroke_weight: float) -> tuple[Any, ...]:
        scores = match_scores(sims, outputs.probabilities, cases.targets, class_weight,
                              UNKNOWN_INDEX)
        accept = threshold_for_false_accept(scores[correct], scores[wrong],
                                            cfg.false_accept).threshold
        if not stroke_weight:  # one gate: the match score keeps out missing strokes too
            accept = max(accept, threshold_for_false_accept(
                scores[correct], scores[incomplete], cfg.incomplete_false_accept).threshold)
            passed, complete = scores >= accept, 0.0
        else:  # the completeness gate lets through what the first left of the allowance
            completeness = completeness_scores(sims, margins, stroke_weight)
            complete = max(threshold_allowing(
                completeness[incomplete & (scores >= accept)], allowed_incomplete
            ), float(completeness.min()))
            passed = (scores >= accept) & (completeness >= complete)
        merit = float(passed[correct].mean() + (~passed[wrong]).mean())
        return merit, accept, complete, scores

    stroke_weights = STROKE_WEIGHTS if strokes is not None and len(strokes) else (0.0,)
    points = {(c, s): operating_point(c, s) for c in CLASS_WEIGHTS for s in stroke_weights}
    class_weight, stroke_weight = max(points, key=lambda pair: points[pair][0])
    _, accept, complete, scores = points[class_weight, stroke_weight]
    unknown_outputs, unknown_correct, unknown = outputs, correct, cases.where("unknown")
    if stress is not None:
        stress_cases, stress_outputs = stress
        unknown_outputs = Outputs(
            np.concatenate([outputs.probabilities, stress_outputs.probabilities]),
            np.concatenate([outputs.embeddings, stress_outputs.embeddings]),
        )
        unknown_correct = np.concatenate([correct, stress_cases.where("correct")])
        unknown = np.concatenate([unknown, np.zeros(len(stress_cases), dtype=bool)])
    gaps = None
    if outside is not None and len(outside):  # the two matmuls once, not once per share
        known, nearest_outside = nearest_similarities(unknown_outputs.embeddings, templates,
                                                      outside)
        gaps = {share: gap_of_nearest(known, nearest_outside, share) for share in KNOWN_SHARES}
    unknown_probability, unknown_confidence, outside_weight, known_share = (
        choose_unknown_thresholds(unknown_outputs, unknown_correct, unknown, cfg, gaps)
    )
    return Thresholds(
        accept_similarity=accept,
        wrong_similarity=min(accept, equal_error_threshold(scores[incomplete], scores[wrong])),
        unknown_confidence=unknown_confidence,
        wrong_confidence=unknown_confidence,
        class_weight=float(class_weight),
        stroke_weight=float(stroke_weight),
        stroke_threshold=float(complete),
        unknown_probability=unknown_probability,
        outside_weight=outside_weight,
        known_share=known_share,
    )


def choose_unknown_thresholds(
    outputs: Outputs,
    correct: np.ndarray,
    unknown: np.ndarray,
    cfg: CalibrationConfig,
    gaps: dict[float, np.ndarray] | None = None,
) -> tuple[float, float, float, float]:
    """``(unknown_probability, unknown_confidence, outside_weight, known_share)``: step 2 of
    this module's docstring.

    The ``max_correct_unknown`` allowance of correct renders goes to the Unknown score first:
    with outside ``gaps`` (by known share), the ``OUTSIDE_WEIGHTS`` weight and share whose
    score flags the most out-of-set input within it; without, P(Unknown) alone, after the
    correct renders the Unknown class wins outright (flagged whatever the thresholds). Only
    what is left goes to the top known probability, kept no higher than flagging
    ``1 - false_accept`` of the out-of-set input needs. That order because the confidence
    threshold does not carry over to real writing, which is less confident than any
    synthetic render: spent on it, the allowance flagged a quarter of real-dev's characters
    Unknown (P(Unknown) first: 12 %). A known share under 1 counts a sample near no template
    at all towards Unknown: on the step-11 network it chose 0.25, and the evaluation writers'
    out-of-set input called Unknown rose from 88.2 to 89.8 %, with fewer of their correct
    characters flagged (2.0 against 2.2 %) and of real-dev's (0.5 against 0.8 %).
    """
    top_known = outputs.probabilities[:, :LEVEL1_COUNT].max(axis=1).astype(np.float64)
    allowance = int(np.floor(cfg.max_correct_unknown * correct.sum()))

    def score_threshold(share: float, weight: float) -> tuple[float, np.ndarray]:
        """(threshold, flagged) of the Unknown score at ``weight`` and ``share``; at weight 0
        the Unknown class winning outright flags input whatever the threshold, and spends
        allowance first."""
        wins = knownness(outputs) == 0 if not weight else np.zeros(len(correct), dtype=bool)
        scores = unknown_scores(outputs.probabilities, gaps[share] if weight else 0.0, weight,
                                UNKNOWN_INDEX)
        left = max(allowance - int(wins[correct].sum()), 0)
        threshold = max(threshold_allowing(scores[correct & ~wins], left), 0.0)
        if not weight:
            threshold = min(threshold, 1.0)  # a probability
        return threshold, wins | (scores >= threshold)

    pairs = ([(share, weight) for share in gaps for weight in OUTSIDE_WEIGHTS]
             if gaps else [(1.0, 0.0)])
    points = {pair: score_threshold(*pair) for pair in pairs}
    share, weight = max(pairs, key=lambda pair: (points[pair][1][unknown].mean(), pair[0],
                                                 -pair[1]))
    probability, flagged = points[share, weight]
    left = max(allowance - int(flagged[correct].sum()), 0)
    confidence = min(max(-threshold_allowing(-top_known[correct & ~flagged], left), 0.0), 1.0)
    rest = np.sort(top_known[unknown & ~flagged])
    needed = int(np.ceil((1 - cfg.false_accept) * unknown.sum())) - (unknown.sum() - rest.size)
    if needed <= 0:
        confidence = 0.0
    elif needed <= rest.size:
        confidence = min(confidence, float(np.nextafter(rest[needed - 1], np.inf)))
    return float(probability), float(confidence), float(weight), float(share)


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
    import hanzi_grader.models.melnyk_net  # noqa: F401  registers GlobalWeightedAveragePooling2D
    import keras
    from hanzi_grader.models.bundle import save_bundle, serving_model
    from hanzi_grader.models.melnyk_net import embedding_model, input_size_of
    from hanzi_grader.models.runtime import build_forward

    from hanzi_grader.settings import get_settings

    cfg = cfg or CalibrationConfig()
    if cfg.real_fraction:
        from hanzi_grader.models.training.trajectories import resolve_trajectory_dir

        cfg = dataclasses.replace(cfg, trajectory_dir=resolve_trajectory_dir(cfg.trajectory_dir))
    # Templates and thresholds from the very model the bundle will hold.
    model = serving_model(keras.saving.load_model(model_path, compile=False))
    size = input_size_of(model)
    # Float32 whatever the service's precision: the thresholds are chosen on these outputs.
    run = build_forward(embedding_model(model), size, get_settings().runtime, "f32")
    templates, mask = make_templates(run, size, cfg)
    strokes = make_stroke_templates(run, size, cfg) if cfg.stroke_renders else None
    outside = make_outside_templates(run, size, cfg) if cfg.outside_renders else None
    cases = make_verification_set(
        cfg.calibration_cases, size=size, seed=CALIBRATION_SEED, real_fraction=cfg.real_fraction,
        trajectory_dir=str(cfg.trajectory_dir) if cfg.trajectory_dir else None,
        real_writers="calibration",
    )
    outputs = forward(run, cases.images, batch_size=cfg.batch_size, desc="calibration set")
    stress = None
    if cfg.stress_cases:
        stress_cases = make_verification_set(cfg.stress_cases, size=size,
                                             seed=STRESS_CALIBRATION_SEED, stress=True)
        stress = (stress_cases, forward(run, stress_cases.images, batch_size=cfg.batch_size,
                                        desc="stress calibration set"))
    thresholds = choose_thresholds(cases, outputs, templates, cfg, strokes, outside, stress)
    missing_strokes: dict[str, Any] = {}
    if cfg.missing_stroke_cases and strokes is not None and len(strokes):
        from hanzi_grader.models.training.missing_strokes import calibrate_missing_strokes

        thresholds, missing_strokes = calibrate_missing_strokes(
            run, size, cfg.missing_stroke_cases, templates, thresholds, strokes, outside,
            cfg.trajectory_dir if cfg.real_fraction else None)
    report = {
        "templates_per_class": cfg.templates_per_class,
        "stroke_renders": cfg.stroke_renders,
        "reference_renders": cfg.reference_renders,
        "stroke_templates": len(strokes) if strokes is not None else 0,
        "outside_renders": cfg.outside_renders,
        "outside_templates": len(outside) if outside is not None else 0,
        "calibration_cases": len(cases),
        "stress_cases": cfg.stress_cases,
        "real_fraction": cfg.real_fraction,
        "real_writers": "calibration writers 1221-1230" if cfg.real_fraction else None,
        "stated_false_accept": cfg.false_accept,
        "stated_incomplete_false_accept": cfg.incomplete_false_accept,
        "rates": verifier_rates(cases, outputs, templates, thresholds, strokes, outside),
        "missing_stroke": missing_strokes,
    }
    from hanzi_grader.models.training.trajectories import training_data

    training = dict(training or {})
    training["data"] = training_data(training, calibrated_on_real=bool(cfg.real_fraction))
    path = save_bundle(
        bundle_dir,
        model=model,
        architecture=arch,
        templates=templates,
        template_mask=mask,
        thresholds=thresholds,
        version=version,
        trained=True,
        training=training,
        evaluation={"calibration": report},
        stroke_templates=strokes,
        outside_templates=outside,
    )
    return path, report

