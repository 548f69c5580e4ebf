"""Running a model over many preprocessed images and scoring its verifier, for calibrate and
evaluate. The verdicts come from ``models.verifier.decide_verdict``, the very function the
service uses, so the rates reported are the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from hanzi_grader.models.charset import LEVEL1_COUNT, UNKNOWN_INDEX
from hanzi_grader.models.results import Verdict
from hanzi_grader.models.verifier import (
    StrokeTemplates,
    Thresholds,
    decide_verdict,
    is_unknown,
    l2_normalize,
    outside_gaps,
)
from tqdm import tqdm

if TYPE_CHECKING:
    import keras
    from hanzi_grader.models.training.probes import VerificationSet


@dataclass
class Outputs:
    """The network's outputs for a set of images."""

    probabilities: np.ndarray  # (n, 3756) float32
    embeddings: np.ndarray  # (n, dim) float32, unit length

    def rows(self, mask: np.ndarray) -> Outputs:
        """The outputs of the images that ``mask`` selects."""
        return Outputs(self.probabilities[mask], self.embeddings[mask])

    def top(self, k: int) -> np.ndarray:
        """(n, k) indices of the k most probable of the 3755 known classes, best first."""
        known = self.probabilities[:, :LEVEL1_COUNT]
        part = np.argpartition(-known, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(known, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)


def forward(
    model: keras.Model | Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    images: np.ndarray,
    *,
    batch_size: int = 256,
    desc: str = "forward",
    progress: bool = True,
) -> Outputs:
    """Probabilities and normalised embeddings of ``images`` in batches, with a progress bar
    (unless ``progress`` is False or there is one batch). ``model`` is a Keras network, run in
    TensorFlow as calibration does, or a batch function such as ``Recognizer.forward``, so that
    evaluation measures the runtime the service serves with."""
    import keras
    from hanzi_grader.models.melnyk_net import embedding_model

    if isinstance(model, keras.Model):
        both = embedding_model(model)
        run = lambda batch: both(batch, training=False)  # noqa: E731
    else:
        run = model
    probabilities, embeddings = [], []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch",
                      disable=not progress or len(images) <= batch_size):
        p, e = run(images[start : start + batch_size])
        probabilities.append(np.asarray(p, dtype=np.float32))
        embeddings.append(np.asarray(e, dtype=np.float32))
    return Outputs(np.concatenate(probabilities), l2_normalize(np.concatenate(embeddings)))


def similarities(outputs: Outputs, templates: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cosine of each image's embedding with its target's template."""
    return np.einsum("ij,ij->i", outputs.embeddings, templates[targets]).astype(np.float32)


def knownness(outputs: Outputs) -> np.ndarray:
    """How surely each image is a known character: its top known probability, or 0 when the
    Unknown class wins outright."""
    known = outputs.probabilities[:, :LEVEL1_COUNT].max(axis=1)
    unknown_wins = outputs.probabilities.argmax(axis=1) == UNKNOWN_INDEX
    return np.where(unknown_wins, 0.0, known)


def gaps_of(
    outputs: Outputs,
    templates: np.ndarray,
    outside: np.ndarray | None,
    known_share: float = 1.0,
) -> np.ndarray:
    """Each image's outside gap (zeros without out-of-set templates); ``known_share`` as in
    ``models.verifier.outside_gaps``, the manifest's."""
    return outside_gaps(outputs.embeddings, templates,
                        outside if outside is not None else np.zeros((0, 1), np.float32),
                        known_share)


def verdicts(
    outputs: Outputs,
    templates: np.ndarray,
    targets: np.ndarray,
    thresholds: Thresholds,
    strokes: StrokeTemplates | None = None,
    gaps: np.ndarray | None = None,
) -> np.ndarray:
    """The service's verdict for each (image, target) pair, as strings; ``gaps`` are the
    images' outside gaps (``gaps_of``), zeros when not given."""
    sims = similarities(outputs, templates, targets)
    margins = (strokes.margins(outputs.embeddings, targets) if strokes is not None
               else np.zeros(len(targets), dtype=np.float32))
    gaps = gaps if gaps is not None else np.zeros(len(targets), dtype=np.float32)
    return np.asarray([
        str(decide_verdict(
            target_index=int(target),
            has_template=True,
            similarity=float(sim),
            probabilities=probabilities,
            thresholds=thresholds,
            unknown_index=UNKNOWN_INDEX,
            stroke_margin=float(margin),
            outside_gap=float(gap),
        ))
        for target, sim, probabilities, margin, gap in zip(
            targets, sims, outputs.probabilities, margins, gaps, strict=True
        )
    ])


def unknown_flags(
    outputs: Outputs, thresholds: Thresholds, gaps: np.ndarray | None = None
) -> np.ndarray:
    """The classify answer's Unknown flag for each image (``gaps`` as in ``verdicts``)."""
    gaps = gaps if gaps is not None else np.zeros(len(outputs.probabilities), dtype=np.float32)
    return np.asarray([is_unknown(p, thresholds, UNKNOWN_INDEX, float(gap))
                       for p, gap in zip(outputs.probabilities, gaps, strict=True)])


def verifier_rates(
    cases: VerificationSet,
    outputs: Outputs,
    templates: np.ndarray,
    thresholds: Thresholds,
    strokes: StrokeTemplates | None = None,
    outside: np.ndarray | None = None,
) -> dict[str, float | int]:
    """The verifier's rates on labelled cases: what the must-show goals are stated in."""
    gaps = gaps_of(outputs, templates, outside, thresholds.known_share)
    found = verdicts(outputs, templates, cases.targets, thresholds, strokes, gaps)
    flags = unknown_flags(outputs, thresholds, gaps)
    accepted = found == str(Verdict.CORRECT)

    def share(mask: np.ndarray, hit: np.ndarray) -> float:
        return round(float(hit[mask].mean()), 4) if mask.any() else float("nan")

    correct, wrong = cases.where("correct"), cases.where("wrong", "similar")
    return {
        "cases": len(cases),
        "accept_correct": share(correct, accepted),
        "reject_wrong": share(wrong, ~accepted),
        "reject_similar": share(cases.where("similar"), ~accepted),
        "wrong_called_wrong": share(wrong, found == str(Verdict.WRONG_CHARACTER)),
        "reject_incomplete": share(cases.where("incomplete"), ~accepted),
        "incomplete_called_incomplete": share(
            cases.where("incomplete"), found == str(Verdict.INCOMPLETE_OR_UNCLEAR)
        ),
        "unknown_flagged": share(cases.where("unknown"), flags),
        "correct_flagged_unknown": share(correct, flags),
    }
