"""Naming the missing stroke of an incomplete rendering: "the 3rd stroke, 点, is missing".

The verifier's stroke templates hold, per character, one template for each stroke left out,
in standard stroke order. A sample lacking stroke k lies nearer to template k than to the
others; ``StrokeTemplates.guess`` says which is nearest and how clearly (a softmax over the
stroke templates). The stroke is named only on an ``incomplete_or_unclear`` verdict, and only
when that confidence reaches the manifest's ``missing_stroke_confidence``: an untidy but
complete sample, or one missing several strokes, is near no single template, and naming a
stroke there would teach the learner something false. Nor when the verdict came from the
first gate alone ("is it the target?") while the completeness gate passed: on the held-out
writers a third of those guesses were right.
"""

from __future__ import annotations

import numpy as np
from hanzi_grader.models.charset import CLASSES
from hanzi_grader.models.results import MissingStroke, Verdict
from hanzi_grader.models.stroke_kinds import stroke_kinds
from hanzi_grader.models.verifier import StrokeTemplates, Thresholds, completeness_scores


def guess_missing_stroke(
    embedding: np.ndarray, target_index: int, strokes: StrokeTemplates, thresholds: Thresholds
) -> MissingStroke | None:
    """The nearest stroke-missing template of ``target_index`` as a ``MissingStroke``, whatever
    its confidence; None when the rows cannot be told apart from strokes (a character the kinds
    table lacks, or whose template count is not its stroke count: a row per stroke is the
    only way a row's position is the stroke's index)."""
    kinds = stroke_kinds(CLASSES[target_index])
    if kinds is None or len(kinds) < 2 or len(strokes.of(target_index)) != len(kinds):
        return None
    index, confidence = strokes.guess(embedding, target_index,
                                      thresholds.missing_stroke_sharpness)
    return MissingStroke(index, kinds[index], confidence)


def name_missing_stroke(
    *,
    verdict: Verdict | str | None,
    embedding: np.ndarray,
    target_index: int | None,
    similarity: float | None,
    strokes: StrokeTemplates,
    thresholds: Thresholds,
) -> MissingStroke | None:
    """The missing stroke to name for this verdict, or None (see the module docstring)."""
    if verdict != Verdict.INCOMPLETE_OR_UNCLEAR or target_index is None or similarity is None:
        return None
    if thresholds.stroke_weight:
        margin = strokes.margins(embedding, target_index)
        if completeness_scores(similarity, margin, thresholds.stroke_weight)[0] >= (
                thresholds.stroke_threshold):
            return None  # complete by the stroke templates: unclear, not a stroke short
    guess = guess_missing_stroke(embedding, target_index, strokes, thresholds)
    if guess is None or guess.confidence < thresholds.missing_stroke_confidence:
        return None
    return guess
