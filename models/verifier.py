"""The template verifier (after HSK1 v5): "is this image a correct rendering of TARGET?".

The embedding is the pooled feature vector before dropout, L2-normalised. A class's template is
the mean normalised embedding of its samples, normalised again; the similarity is the cosine
between a sample and its target's template. A rendering is ``correct`` when it passes two
gates:

- *is it the target?* The match score, ``similarity + class_weight * log P(target)``, reaches
  ``accept_similarity``. log P(target), the classifier's probability of the target among the
  known classes, tells apart classes whose clusters are close (look-alikes such as 己/已);
- *is it complete?* (beyond HSK1 v5) The completeness score,
  ``similarity + stroke_weight * stroke margin``, reaches ``stroke_threshold``. Each
  character also has a template per stroke, made from renders with that stroke left out; the
  stroke margin is how much nearer the sample lies to the full template than to the nearest
  of those. A sample missing stroke i moves towards template i, while an untidy but complete
  one drifts from the full template in no stroke's direction in particular: a relative test,
  so real writers' distance from the synthetic templates costs less than it does under a
  threshold on the cosine alone. It is a gate of its own because the margin says nothing of
  identity: a wrong character lies far from every template of the target, and its margin is
  noise.

Is it a known character at all? The classify answer's Unknown flag. With templates of the
characters outside the 3755 in the bundle (beyond HSK1 v5), the *Unknown score* is
``P(Unknown) * exp(outside_weight * outside gap)``, the outside gap being how much nearer the
sample lies to the nearest out-of-set character's template than to the nearest known one's
(the latter's similarity counted at ``known_share``, a part of it, where calibration found
that flags more out-of-set input: a sample near no template at all is not a known one either):
the Unknown class alone, trained on few renders of each of ~5800 other characters, let a third
of them pass as known ones; their own templates catch most of those.

Pure numpy: the worker's grading code and the calibration tools use it without TensorFlow.
Every threshold and weight comes from the model bundle.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import numpy as np
from hanzi_grader.models.results import Verdict


def l2_normalize(vectors: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """``vectors`` scaled to unit length along ``axis`` (zero vectors stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return vectors / np.maximum(norms, eps)


def build_templates(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(templates (num_classes, dim), mask (num_classes,) of classes that have samples).

    Each template is the mean of its class's normalised embeddings, normalised again; labels
    outside 0..num_classes-1 (the Unknown class) are ignored.
    """
    embeddings = l2_normalize(embeddings)
    labels = np.asarray(labels, dtype=np.int64)
    keep = (labels >= 0) & (labels < num_classes)
    sums = np.zeros((num_classes, embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[keep], embeddings[keep])
    mask = np.bincount(labels[keep], minlength=num_classes) > 0
    return l2_normalize(sums), mask


def nearest_similarities(
    embeddings: np.ndarray, templates: np.ndarray, outside_templates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(known, outside)``: each (unit) embedding's similarity to its nearest known class's
    template and to its nearest template of a character outside the set."""
    embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    return ((embeddings @ templates.T).max(axis=1),
            (embeddings @ outside_templates.T).max(axis=1))


def outside_gaps(
    embeddings: np.ndarray,
    templates: np.ndarray,
    outside_templates: np.ndarray,
    known_share: float = 1.0,
) -> np.ndarray:
    """How much nearer each (unit) embedding lies to the nearest template of a character
    outside the set than to the nearest known class's template, whose similarity counts at
    ``known_share`` (zeros without outside templates)."""
    if not len(outside_templates):
        return np.zeros(len(np.atleast_2d(embeddings)), dtype=np.float32)
    return gap_of_nearest(*nearest_similarities(embeddings, templates, outside_templates),
                          known_share)


def gap_of_nearest(known: np.ndarray, outside: np.ndarray, known_share: float) -> np.ndarray:
    """The outside gap from the nearest similarities (``nearest_similarities``)."""
    return (np.asarray(outside) - known_share * np.asarray(known)).astype(np.float32)


def similarities(embeddings: np.ndarray, templates: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cosine of each embedding with the template of its target class index."""
    return np.einsum("ij,ij->i", l2_normalize(embeddings), templates[targets]).astype(np.float32)


@dataclass(frozen=True)
class StrokeTemplates:
    """Per class, a template for each of its strokes left out, stored as its offset from the
    class's full template (``deltas[j] = missing_template - full_template``): the stroke margin
    is then ``-max_j embedding . deltas[j]`` over the class's rows.

    Class ``c`` owns rows ``offsets[c]:offsets[c + 1]``; a class with no rows (one stroke, or
    none rendered) has a margin of 0.
    """

    deltas: np.ndarray  # (rows, dim) float32
    offsets: np.ndarray  # (num_classes + 1,) int64, non-decreasing, offsets[0] == 0

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets)
        if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != len(self.deltas) or (
            np.diff(offsets) < 0
        ).any():
            raise ValueError(
                f"stroke template offsets must run from 0 to {len(self.deltas)} without "
                f"decreasing; got {offsets.shape} from {offsets[:1]} to {offsets[-1:]}"
            )

    @classmethod
    def empty(cls, num_classes: int, dim: int) -> StrokeTemplates:
        return cls(np.zeros((0, dim), np.float32), np.zeros(num_classes + 1, np.int64))

    def __len__(self) -> int:
        return len(self.deltas)

    def of(self, index: int) -> np.ndarray:
        """The rows (stroke-missing offsets) of class ``index``."""
        return self.deltas[self.offsets[index] : self.offsets[index + 1]]

    def guess(self, embedding: np.ndarray, target: int, sharpness: float) -> tuple[int, float]:
        """(row, confidence): the stroke-missing template ``embedding`` lies nearest to among
        class ``target``'s rows, and its share of ``softmax(sharpness * embedding . rows)``:
        how clearly that one stroke, and no other, explains the sample. (-1, 0.0) for a
        class without rows."""
        rows = self.of(int(target))
        if not len(rows):
            return -1, 0.0
        scores = sharpness * (rows @ np.asarray(embedding, dtype=np.float32)).astype(np.float64)
        weights = np.exp(scores - scores.max())
        best = int(np.argmax(scores))
        return best, float(weights[best] / weights.sum())

    def margins(self, embeddings: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The stroke margin of each (unit) embedding against its target class."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        targets = np.atleast_1d(np.asarray(targets, dtype=np.int64))
        out = np.zeros(len(targets), dtype=np.float32)
        for i, (embedding, target) in enumerate(zip(embeddings, targets, strict=True)):
            rows = self.of(int(target))
            if len(rows):
                out[i] = -float(np.max(rows @ embedding))
        return out


def build_stroke_templates(
    embeddings: np.ndarray,
    classes: np.ndarray,
    strokes: np.ndarray,
    templates: np.ndarray,
) -> StrokeTemplates:
    """Stroke templates from embeddings of renders with one stroke left out.

    ``classes[k]`` and ``strokes[k]`` say which class and which of its strokes render ``k``
    lacks; each (class, stroke) pair's template is the renormalised mean, as in
    ``build_templates``, stored as its offset from the class's full template in ``templates``.
    """
    embeddings = l2_normalize(embeddings)
    classes = np.asarray(classes, dtype=np.int64)
    strokes = np.asarray(strokes, dtype=np.int64)
    num_classes = len(templates)
    pairs, row_of = np.unique(np.stack([classes, strokes], axis=1), axis=0, return_inverse=True)
    sums = np.zeros((len(pairs), embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, row_of.ravel(), embeddings)
    deltas = l2_normalize(sums) - templates[pairs[:, 0]]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(pairs[:, 0], minlength=num_classes))])
    return StrokeTemplates(deltas.astype(np.float32), offsets.astype(np.int64))


# Defaults for manifests made before missing strokes were named: chosen for the shipped bundle
# by ``missing_strokes.choose_missing_stroke_thresholds`` (82 % of the named right) on its own
# cases, the calibration writers' and the synthesiser's (docs/missing-stroke.md).
MISSING_STROKE_SHARPNESS = 50.0
MISSING_STROKE_CONFIDENCE = 0.7


@dataclass(frozen=True)
class Thresholds:
    """The verifier's operating point, stored in the bundle's manifest and calibrated there.

    The two ``*_similarity`` thresholds apply to the match score (the cosine alone when
    ``class_weight`` is 0); they keep their names so that older manifests still read.

    - ``accept_similarity``: at or above, the rendering is the target (first gate).
    - ``wrong_similarity``: below it the sample is unlike the target: ``wrong_character`` when
      another class clearly wins, ``unknown`` when nothing known does.
    - ``unknown_confidence``: a top probability under it means "not a known character".
    - ``unknown_probability``: so does an Unknown score at or over it (see the module
      docstring); with an ``outside_weight`` of 0 the score is P(Unknown), and the Unknown class
      winning flags input too (absent in older manifests: 1, i.e. only when it wins).
    - ``outside_weight``: the weight of the outside gap in the Unknown score; above 0 the score
      alone decides, as calibrated (absent in older manifests and in bundles without
      out-of-set templates: 0).
    - ``known_share``: the share of the nearest known template's similarity that the outside
      gap subtracts (absent in older manifests: 1, the plain difference).
    - ``wrong_confidence``: the probability another class needs to "clearly win".
    - ``class_weight``: how much the classifier's log P(target) adds to the similarity in the
      match score (absent in older manifests: 0).
    - ``stroke_weight`` and ``stroke_threshold``: the completeness gate, on the similarity plus
      ``stroke_weight`` times the stroke margin; with a weight of 0 (older manifests, bundles
      without stroke templates) there is no such gate.
    - ``missing_stroke_sharpness`` and ``missing_stroke_confidence``: an incomplete verdict
      names the stroke-missing template nearest to the sample (``StrokeTemplates.guess`` at
      this sharpness) when its confidence reaches the second (absent in older manifests: the
      defaults, measured on the shipped bundle; see docs/missing-stroke.md).
    """

    accept_similarity: float
    wrong_similarity: float
    unknown_confidence: float
    wrong_confidence: float
    class_weight: float = 0.0  # weight of log P(target) in the match score; 0: cosine alone
    stroke_weight: float = 0.0  # weight of the stroke margin in the completeness score
    stroke_threshold: float = 0.0  # the completeness score a correct rendering reaches
    unknown_probability: float = 1.0  # Unknown score that flags input even when it does not win
    outside_weight: float = 0.0  # weight of the outside gap in the Unknown score
    known_share: float = 1.0  # share of the nearest known similarity in the outside gap
    missing_stroke_sharpness: float = MISSING_STROKE_SHARPNESS
    missing_stroke_confidence: float = MISSING_STROKE_CONFIDENCE

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """From a manifest's ``thresholds``; ``ValueError`` naming missing or bad fields."""
        optional = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        data = {**optional, **data}
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"thresholds lack {', '.join(missing)}; got {sorted(data)}")
        values = {}
        for name in names:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"threshold {name} must be a number, got {value!r}")
            values[name] = float(value)
        return cls(**values)


# The floor of P(target) in the match score: a target the classifier rules out entirely costs
# log(1e-6) * class_weight, not minus infinity.
_MIN_PROBABILITY = 1e-6


def target_log_probability(
    probabilities: np.ndarray, targets: np.ndarray, unknown_index: int | None
) -> np.ndarray:
    """log P(target) among the known classes, for rows of probabilities and their targets."""
    probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    known = probabilities[:, :unknown_index] if unknown_index is not None else probabilities
    targets = np.atleast_1d(np.asarray(targets, dtype=np.int64))
    share = known[np.arange(len(targets)), targets] / np.maximum(known.sum(axis=1), 1e-12)
    return np.log(np.maximum(share, _MIN_PROBABILITY))


def match_scores(
    similarity: np.ndarray,
    probabilities: np.ndarray,
    targets: np.ndarray,
    class_weight: float,
    unknown_index: int | None,
) -> np.ndarray:
    """The score of the first gate, "is it the target?" (see the module docstring)."""
    similarity = np.atleast_1d(np.asarray(similarity, dtype=np.float64))
    if class_weight == 0:
        return similarity
    return similarity + class_weight * target_log_probability(
        probabilities, targets, unknown_index
    )


def completeness_scores(
    similarity: np.ndarray, stroke_margin: np.ndarray | float, stroke_weight: float
) -> np.ndarray:
    """The score of the second gate, "is it complete?" (see the module docstring)."""
    similarity = np.atleast_1d(np.asarray(similarity, dtype=np.float64))
    return similarity + stroke_weight * np.asarray(stroke_margin, dtype=np.float64)


def unknown_scores(
    probabilities: np.ndarray,
    outside_gap: np.ndarray | float,
    outside_weight: float,
    unknown_index: int,
) -> np.ndarray:
    """The Unknown score, ``P(Unknown) * exp(outside_weight * outside_gap)``, per row."""
    probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    gap = np.asarray(outside_gap, dtype=np.float64)
    return probabilities[:, unknown_index] * np.exp(outside_weight * gap)


def is_unknown(
    probabilities: np.ndarray,
    thresholds: Thresholds,
    unknown_index: int | None,
    outside_gap: float = 0.0,
) -> bool:
    """Not a known character: the Unknown score reaches ``unknown_probability`` (or, without
    an outside weight, the Unknown class wins), or no known class is confident enough."""
    probabilities = np.asarray(probabilities)
    if unknown_index is not None:
        score = float(unknown_scores(
            probabilities, outside_gap, thresholds.outside_weight, unknown_index
        )[0])
        wins = not thresholds.outside_weight and int(np.argmax(probabilities)) == unknown_index
        if wins or score >= thresholds.unknown_probability:
            return True
    known = probabilities[:unknown_index] if unknown_index is not None else probabilities
    return float(known.max()) < thresholds.unknown_confidence


def decide_verdict(
    *,
    target_index: int | None,
    has_template: bool,
    similarity: float | None,
    probabilities: np.ndarray,
    thresholds: Thresholds,
    unknown_index: int | None,
    stroke_margin: float = 0.0,
    outside_gap: float = 0.0,
) -> Verdict:
    """The verdict for one image against its target.

    ``target_index`` is None for a target outside the character set. Missing strokes keep the
    target as the best guess but fail a gate: ``incomplete_or_unclear``.
    """
    if target_index is None or not has_template or similarity is None:
        return Verdict.INVALID_TARGET
    probabilities = np.asarray(probabilities)
    score = float(match_scores(
        similarity, probabilities, target_index, thresholds.class_weight, unknown_index
    )[0])
    complete = not thresholds.stroke_weight or float(completeness_scores(
        similarity, stroke_margin, thresholds.stroke_weight
    )[0]) >= thresholds.stroke_threshold
    if score >= thresholds.accept_similarity and complete:
        return Verdict.CORRECT
    low_similarity = score < thresholds.wrong_similarity
    if low_similarity and is_unknown(probabilities, thresholds, unknown_index, outside_gap):
        return Verdict.UNKNOWN
    known = probabilities[:unknown_index] if unknown_index is not None else probabilities
    best = int(np.argmax(known))
    other_wins = best != target_index and float(known[best]) >= thresholds.wrong_confidence
    if low_similarity and other_wins:
        return Verdict.WRONG_CHARACTER
    return Verdict.INCOMPLETE_OR_UNCLEAR
