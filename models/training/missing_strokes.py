"""How well incomplete verdicts name the missing stroke, for ``hanzi evaluate``.

Cases are one-stroke-missing renders whose missing stroke is known:

- ``synthetic``: the pen synthesiser (held-out stream) with textbook stroke k left out;
- ``writers``: the evaluation writers (1231-1240), only samples with as many pen strokes as
  the character has textbook strokes, each matching one (``textbook_strokes``: a writer's own
  stroke order is mapped back to the standard one); a pen stroke is left out, and the
  textbook stroke it matched is the one missing.

Figures, over the cases the verifier calls ``incomplete_or_unclear``: ``named``, the share
that name a stroke, and ``right``, the share of the named that name the one left out
(``nearest_right``: the same for the nearest template whatever its confidence).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.models.charset import CLASSES, index_of
from hanzi_grader.models.missing_stroke import guess_missing_stroke, name_missing_stroke
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.results import Verdict
from hanzi_grader.models.training.scoring import Outputs, gaps_of, similarities, verdicts
from hanzi_grader.models.verifier import StrokeTemplates, Thresholds
from tqdm import tqdm

from hanzi_grader.errors import InvalidImage

MISSING_STROKE_SEED = 900_007  # evaluation's cases
MISSING_STROKE_CALIBRATION_SEED = 900_008  # the cases the defaults were chosen on
SHARPNESSES = (20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0)
CONFIDENCES = tuple(float(c) for c in np.round(np.arange(0.3, 0.96, 0.05), 2))
RIGHT_SHARE = 0.82  # of the named right, on calibration cases: 80 % with room for chance
# Draws per case before giving up: only about 1 in 20 of the writers' samples has as many pen
# strokes as textbook strokes (most join some), and of those 2 in 3 match them one to one.
MAX_DRAWS = 1000
MATCH_POINTS = 8  # points per stroke when matching pen strokes to textbook strokes
# The mean distance (in the character's box) beyond which a pen stroke is not the textbook
# stroke it was matched to.
MATCH_DISTANCE = 0.25


@dataclass
class MissingStrokeCases:
    """Preprocessed images of ``targets`` with stroke ``missing`` left out."""

    images: np.ndarray  # (n, size, size, 1) float32
    targets: np.ndarray  # (n,) class index
    missing: np.ndarray  # (n,) stroke index, standard order

    def __len__(self) -> int:
        return len(self.targets)


def _synthetic_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int, int] | None:
    from hanzi_grader.models.training.samples import incomplete_sample

    label = int(rng.integers(len(CLASSES)))
    try:
        image, (missing,) = incomplete_sample(CLASSES[label], rng, 1, size=2 * size)
    except ValueError:
        return None  # a one-stroke character
    return image, label, missing


def _normalised(strokes: list[np.ndarray]) -> np.ndarray:
    """(strokes, MATCH_POINTS, 2) centre lines resampled and fitted into the unit box by the
    whole character's box (its aspect kept), so a writer's strokes and the medians compare."""
    from hanzi_grader.models.training.medians import resample_polyline

    lines = np.stack([resample_polyline(np.asarray(s, dtype=np.float64), MATCH_POINTS)
                      for s in strokes])
    low, high = lines.reshape(-1, 2).min(axis=0), lines.reshape(-1, 2).max(axis=0)
    return (lines - (low + high) / 2) / max(float((high - low).max()), 1e-9)


def textbook_strokes(pen: list[np.ndarray], textbook: np.ndarray) -> np.ndarray | None:
    """For each pen stroke (points, y down) the textbook stroke (``textbook``: the prepared
    medians) it is, by the assignment of least total distance; None where one pen stroke lies
    further than ``MATCH_DISTANCE`` from its textbook stroke (it is not that stroke)."""
    from scipy.optimize import linear_sum_assignment

    a, b = _normalised(pen), _normalised(list(textbook))
    cost = np.linalg.norm(a[:, None] - b[None], axis=-1).mean(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    if cost[rows, cols].max() > MATCH_DISTANCE:
        return None
    return cols[np.argsort(rows)]


def _writer_case(rng: np.random.Generator, size: int, trajectories: Any
                 ) -> tuple[np.ndarray, int, int] | None:
    from hanzi_grader.models.training.medians import prepared_character
    from hanzi_grader.models.training.trajectories import render_trajectory

    chars = trajectories.chars  # the characters these writers wrote
    char = chars[int(rng.integers(len(chars)))]
    label = index_of(char)
    sample = trajectories.of_class(char, rng)
    textbook = prepared_character(char).points
    n = len(sample.strokes) if sample is not None else 0
    if n < 2 or n != len(textbook):
        return None  # not written, or pen strokes that are not one textbook stroke each
    matched = textbook_strokes(sample.strokes, textbook)
    if matched is None:
        return None  # a pen stroke that matches no textbook stroke: which is missing is moot
    pen = int(rng.integers(n))
    image = render_trajectory(sample, rng, size=2 * size, omit_strokes=(pen,))
    return image, label, int(matched[pen])


def make_missing_stroke_cases(
    n: int, *, size: int, source: str, trajectory_dir: Path | None = None,
    seed: int = MISSING_STROKE_SEED, writers: str = "evaluation", progress: bool = True,
) -> MissingStrokeCases:
    """``n`` cases from ``source`` (``synthetic``, or ``writers`` of the writer set
    ``writers``), reproducible from ``seed``."""
    rng = np.random.default_rng([seed, int(source == "writers")])
    trajectories = None
    if source == "writers":
        from hanzi_grader.models.training.trajectories import shared_trajectories

        trajectories = shared_trajectories(str(trajectory_dir), writers)
    images, targets, missing = [], [], []
    for _ in tqdm(range(n), desc=f"missing-stroke cases ({source})", disable=not progress):
        for _ in range(MAX_DRAWS):
            case = (_writer_case(rng, size, trajectories) if trajectories is not None
                    else _synthetic_case(rng, size))
            if case is None:
                continue
            try:
                image = preprocess(case[0], size)
            except InvalidImage:
                continue  # too little ink left to read
            images.append(image)
            targets.append(case[1])
            missing.append(case[2])
            break
        else:
            break  # these writers hardly write a stroke per textbook stroke: fewer cases
    return MissingStrokeCases(
        np.stack(images).astype(np.float32) if images
        else np.zeros((0, size, size, 1), np.float32),
        np.asarray(targets, dtype=np.int64), np.asarray(missing, dtype=np.int64))


def guesses(outputs: Outputs, targets: np.ndarray, strokes: StrokeTemplates,
            thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(nearest stroke index or -1, its confidence) per case, whatever the verdict."""
    index = np.full(len(targets), -1)
    confidence = np.zeros(len(targets))
    for i, (embedding, target) in enumerate(zip(outputs.embeddings, targets, strict=True)):
        guess = guess_missing_stroke(embedding, int(target), strokes, thresholds)
        if guess is not None:
            index[i], confidence[i] = guess.index, guess.confidence
    return index, confidence


def missing_stroke_rates(
    cases: MissingStrokeCases,
    outputs: Outputs,
    templates: np.ndarray,
    thresholds: Thresholds,
    strokes: StrokeTemplates,
    outside: np.ndarray | None = None,
) -> dict[str, float | int]:
    """The figures of this module's docstring for ``cases`` under ``thresholds``."""
    found = verdicts(outputs, templates, cases.targets, thresholds, strokes,
                     gaps_of(outputs, templates, outside, thresholds.known_share))
    incomplete = found == str(Verdict.INCOMPLETE_OR_UNCLEAR)
    index, _ = guesses(outputs, cases.targets, strokes, thresholds)
    sims = similarities(outputs, templates, cases.targets)
    # The service's own rule, case by case.
    named = np.array([
        name_missing_stroke(verdict=verdict, embedding=embedding, target_index=int(target),
                            similarity=float(sim), strokes=strokes,
                            thresholds=thresholds) is not None
        for verdict, embedding, target, sim in zip(found, outputs.embeddings, cases.targets,
                                                   sims, strict=True)
    ], dtype=bool)
    right = index == cases.missing

    def share(hit: np.ndarray, over: np.ndarray) -> float:
        return round(float(hit[over].mean()), 4) if over.any() else float("nan")

    return {
        "cases": len(cases),
        "incomplete": share(incomplete, np.ones(len(cases), dtype=bool)),
        "named": share(named, incomplete),
        "right": share(right, named),
        "nearest_right": share(right, incomplete & (index >= 0)),
    }


def _naming_inputs(
    cases: MissingStrokeCases, outputs: Outputs, templates: np.ndarray,
    thresholds: Thresholds, strokes: StrokeTemplates, outside: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """What naming depends on besides its two thresholds, computed once: (incomplete verdicts,
    cases the rule may name: an incomplete verdict, the completeness gate failed, a row per
    stroke; each case's stroke-template scores; whether the nearest is the one missing)."""
    sure = dataclasses.replace(thresholds, missing_stroke_confidence=0.0)
    found = verdicts(outputs, templates, cases.targets, thresholds, strokes,
                     gaps_of(outputs, templates, outside, thresholds.known_share))
    sims = similarities(outputs, templates, cases.targets)
    eligible = np.array([
        name_missing_stroke(verdict=verdict, embedding=embedding, target_index=int(target),
                            similarity=float(sim), strokes=strokes, thresholds=sure) is not None
        for verdict, embedding, target, sim in zip(found, outputs.embeddings, cases.targets,
                                                   sims, strict=True)
    ], dtype=bool)
    scores = [strokes.of(int(target)) @ embedding
              for embedding, target in zip(outputs.embeddings, cases.targets, strict=True)]
    nearest = np.array([int(np.argmax(row)) if len(row) else -1 for row in scores])
    return found == str(Verdict.INCOMPLETE_OR_UNCLEAR), eligible, scores, nearest == cases.missing


def _confidences(scores: list[np.ndarray], sharpness: float) -> np.ndarray:
    """``StrokeTemplates.guess``'s confidence for each case's scores."""
    out = np.zeros(len(scores))
    for i, row in enumerate(scores):
        if len(row):
            weights = np.exp(sharpness * (row.astype(np.float64) - row.max()))
            out[i] = 1.0 / weights.sum()
    return out


def choose_missing_stroke_thresholds(
    sets: list[tuple[MissingStrokeCases, Outputs]],
    templates: np.ndarray,
    thresholds: Thresholds,
    strokes: StrokeTemplates,
    outside: np.ndarray | None = None,
    right: float = RIGHT_SHARE,
) -> tuple[float, float]:
    """(sharpness, confidence) naming the most strokes while at least ``right`` of the named
    are right in every one of ``sets`` (each set judged alone, so real writers are not
    outvoted by the easier synthetic cases); the surest pair if none reaches it."""
    inputs = [_naming_inputs(cases, outputs, templates, thresholds, strokes, outside)
              for cases, outputs in sets]
    best: tuple[tuple[float, ...], float, float] | None = None
    for sharpness in SHARPNESSES:
        confidences = [_confidences(scores, sharpness) for _, _, scores, _ in inputs]
        for confidence in CONFIDENCES:
            named_shares, right_shares = [], []
            for (incomplete, eligible, _, hit), sure in zip(inputs, confidences, strict=True):
                named = eligible & (sure >= confidence)
                named_shares.append(named.sum() / max(incomplete.sum(), 1))
                # A set with nothing named has named nothing wrongly.
                right_shares.append(hit[named].mean() if named.any() else 1.0)
            worst_right, worst_named = min(right_shares), min(named_shares)
            key = ((1.0, worst_named, worst_right) if worst_right >= right
                   else (0.0, worst_right, worst_named))
            if best is None or key > best[0]:
                best = (key, sharpness, float(confidence))
    assert best is not None
    return best[1], best[2]


def calibrate_missing_strokes(
    model: Any, size: int, n: int, templates: np.ndarray, thresholds: Thresholds,
    strokes: StrokeTemplates, outside: np.ndarray | None = None,
    trajectory_dir: Path | None = None,
) -> tuple[Thresholds, dict[str, Any]]:
    """``thresholds`` with the naming thresholds chosen on ``n`` synthetic cases and, with a
    ``trajectory_dir``, ``n`` of the calibration writers; and the rates they give there."""
    from hanzi_grader.models.training.scoring import forward

    sources = ["synthetic"] + (["writers"] if trajectory_dir is not None else [])
    sets = []
    for source in sources:
        cases = make_missing_stroke_cases(n, size=size, source=source,
                                          trajectory_dir=trajectory_dir,
                                          seed=MISSING_STROKE_CALIBRATION_SEED,
                                          writers="calibration")
        if len(cases):
            sets.append((source, cases, forward(model, cases.images,
                                                desc=f"missing-stroke cases ({source})")))
    if not sets:
        return thresholds, {}
    sharpness, confidence = choose_missing_stroke_thresholds(
        [(c, o) for _, c, o in sets], templates, thresholds, strokes, outside)
    chosen = dataclasses.replace(thresholds, missing_stroke_sharpness=sharpness,
                                 missing_stroke_confidence=confidence)
    report = {source: missing_stroke_rates(cases, outputs, templates, chosen, strokes, outside)
              for source, cases, outputs in sets}
    return chosen, report
