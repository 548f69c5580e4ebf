"""Labelled verification cases for calibration and evaluation, made by the synthesiser.

A case is an image and the target it is checked against. Kinds:

- ``correct``: a rendering of the target;
- ``wrong``: a rendering of a random other class;
- ``similar``: a rendering of a look-alike of the target (己 checked as 已, 未 as 末, ...);
- ``incomplete``: the target with one stroke left out (of a real writer's sample: one pen
  stroke, which may join several textbook strokes);
- ``unknown``: something that is not one of the 3755 (other characters, Latin, scribbles).

Calibration draws its cases from the training generator's style with a seed no training run
uses; evaluation from the held-out fonts and the stress handwriting regime. With
``real_fraction`` a share of the characters comes from real writers held out of training
(``trajectories.WRITER_SETS``): the calibration writers for calibration, the evaluation
writers for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hanzi_grader.models.charset import CLASSES, UNKNOWN_INDEX, index_of, is_known
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.samples import SampleGenerator, incomplete_sample
from hanzi_grader.models.training.unknowns import render_unknown
from tqdm import tqdm

from hanzi_grader.errors import InvalidImage

# Groups of look-alike characters of the 3755 that a verifier must tell apart.
SIMILAR_GROUPS: tuple[str, ...] = (
    "己已巳", "未末", "土士", "人入八", "大太犬", "日曰", "王玉主", "木本术", "千干于",
    "天夫", "刀力", "白自", "由甲申田", "问间", "免兔", "戊戌戍", "儿几", "午牛", "汩汨",
    "折拆", "候侯", "洒酒", "拔拨", "末未", "析折", "径经", "贷货", "即既",
)
KINDS = ("correct", "wrong", "similar", "incomplete", "unknown")
# How the cases divide among the kinds.
KIND_SHARES = {"correct": 0.3, "wrong": 0.2, "similar": 0.15, "incomplete": 0.2, "unknown": 0.15}


def similar_pairs() -> list[tuple[str, str]]:
    """Every ordered (written, target) pair of distinct look-alikes among the 3755."""
    pairs = []
    for group in SIMILAR_GROUPS:
        chars = [c for c in group if is_known(c)]
        pairs += [(a, b) for a in chars for b in chars if a != b]
    return sorted(set(pairs))


@dataclass
class VerificationSet:
    """Preprocessed images with their true class, the target and the kind of case."""

    images: np.ndarray  # (n, size, size, 1) float32
    truth: np.ndarray  # (n,) class index; UNKNOWN_INDEX for out-of-set input
    targets: np.ndarray  # (n,) class index the image is verified against
    kinds: np.ndarray  # (n,) str

    def __len__(self) -> int:
        return len(self.kinds)

    def where(self, *kinds: str) -> np.ndarray:
        return np.isin(self.kinds, kinds)


def make_verification_set(
    n: int,
    *,
    size: int,
    seed: int,
    heldout: bool = False,
    stress: bool = False,
    progress: bool = True,
    real_fraction: float = 0.0,
    trajectory_dir: str | None = None,
    real_writers: str = "calibration",
) -> VerificationSet:
    """``n`` cases in ``KIND_SHARES`` proportions, reproducible from ``seed``.

    ``heldout`` draws from the evaluation stream and the held-out fonts; ``stress`` uses the
    harsher handwriting regime no training run sees; ``real_fraction`` of the characters
    (correct, wrong, look-alike and incomplete alike) are real samples of ``real_writers``.
    """
    rng = np.random.default_rng([seed, 7331])
    style = HandwritingStyle.stress() if stress else HandwritingStyle()
    generator = SampleGenerator(seed=seed, size=size, heldout=heldout, style=style,
                                real_fraction=real_fraction, trajectory_dir=trajectory_dir,
                                real_writers=real_writers)
    counts = {kind: round(n * share) for kind, share in KIND_SHARES.items()}
    pairs = similar_pairs()
    images, truth, targets, kinds = [], [], [], []
    with tqdm(total=sum(counts.values()), desc="verification cases", disable=not progress) as bar:
        for kind, count in counts.items():
            made = 0
            while made < count:
                case = _case(kind, generator, rng, pairs, size, style)
                if case is None:
                    continue  # an unusable render (e.g. no ink left): draw another
                image, true_index, target_index = case
                images.append(image)
                truth.append(true_index)
                targets.append(target_index)
                kinds.append(kind)
                made += 1
                bar.update()
    return VerificationSet(
        np.stack(images).astype(np.float32),
        np.asarray(truth),
        np.asarray(targets),
        np.asarray(kinds),
    )


def _case(
    kind: str,
    generator: SampleGenerator,
    rng: np.random.Generator,
    pairs: list[tuple[str, str]],
    size: int,
    style: HandwritingStyle,
) -> tuple[np.ndarray, int, int] | None:
    try:
        if kind == "correct":
            label = int(rng.integers(len(CLASSES)))
            return generator.sample(label, rng), label, label
        if kind == "wrong":
            label, target = (int(v) for v in rng.choice(len(CLASSES), 2, replace=False))
            return generator.sample(label, rng), label, target
        if kind == "similar":
            written, target = pairs[int(rng.integers(len(pairs)))]
            label = index_of(written)
            return generator.sample(label, rng), label, index_of(target)
        if kind == "incomplete":
            label = int(rng.integers(len(CLASSES)))
            if generator.real_fraction and rng.random() < generator.real_fraction:
                # A writer who drew it in one stroke leaves nothing to omit: the pen instead.
                image = generator.real_incomplete(label, rng)
                if image is not None:
                    return image, label, label
            image, _ = incomplete_sample(CLASSES[label], rng, 1, size=size * 2, style=style)
            return preprocess(image, size), label, label
        if kind == "unknown":
            image, _ = render_unknown(rng, size=size * 2, style=style, fonts=generator.fonts)
            return preprocess(image, size), UNKNOWN_INDEX, int(rng.integers(len(CLASSES)))
    except (InvalidImage, ValueError):
        return None  # no ink after preprocessing, or a one-stroke character to leave out of
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
