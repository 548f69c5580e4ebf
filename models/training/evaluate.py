"""How good a bundle is: classifier accuracy and verifier rates, on synthetic and real sets.

- ``synthetic``: a held-out synthetic set (evaluation seed stream, fonts never used in
  training) and the same under the stress handwriting regime no training run sees;
- ``writers``: renders of real writers no training run or calibration saw (the evaluation
  writers 1231-1240 of ../shared/olhwdb11), for accuracy and for the verifier (their own
  character, others, look-alikes, one pen stroke left out, and out-of-set input);
- ``real``: any labelled set on disk (``models.training.labelled``), e.g. ../shared/real-dev;
- ``verifier``: the service's verdicts on held-out verification cases (``probes``), and on
  the real sets: each real image checked against its own character and against another;
- ``missing_stroke_*``: on one-stroke-missing renders of the synthesiser and of the
  evaluation writers, how often an incomplete verdict names the stroke, and rightly
  (``missing_strokes``);
- ``speed``: images per second through ``Recognizer.recognize`` at batch 64, preprocessing
  included, and the bare forward pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.models.charset import CLASSES, UNKNOWN_INDEX, index_of, is_known
from hanzi_grader.models.recognizer import Recognizer
from hanzi_grader.models.training.labelled import LabelledImage, read_labelled
from hanzi_grader.models.training.probes import make_verification_set, similar_pairs
from hanzi_grader.models.training.scoring import (
    Outputs,
    forward,
    gaps_of,
    unknown_flags,
    verdicts,
    verifier_rates,
)
from tqdm import tqdm

from hanzi_grader.errors import HanziError

EVALUATION_SEED = 900_003
SPEED_BATCH = 64
# The training issue's goals, (section, figure) -> the least value that meets it: a bundle's
# report says which it meets, so a retrained bundle is judged on the same terms.
GOALS: dict[tuple[str, str], float] = {
    ("sets.real-dev", "top1"): 0.90,
    ("sets.real-dev", "top5"): 0.97,
    ("sets.real-dev", "verifier_accept_correct"): 0.90,
    ("sets.real-dev", "verifier_reject_wrong"): 0.99,
    ("writers_heldout", "top1"): 0.93,
    ("verifier_writers", "reject_incomplete"): 0.80,
    ("verifier_writers", "unknown_flagged"): 0.95,
    ("synthetic_heldout", "top1"): 0.97,
    ("verifier_synthetic", "accept_correct"): 0.95,
    ("verifier_synthetic", "reject_wrong"): 0.95,
    ("verifier_synthetic", "reject_incomplete"): 0.80,
    ("verifier_synthetic", "unknown_flagged"): 0.95,
    ("speed", "recognize_images_per_s"): 400.0,
    ("missing_stroke_synthetic", "named"): 0.70,
    ("missing_stroke_synthetic", "right"): 0.80,
    ("missing_stroke_writers", "named"): 0.70,
    ("missing_stroke_writers", "right"): 0.80,
}


def accuracy(outputs: Outputs, labels: np.ndarray) -> dict[str, float | int]:
    """Top-1 and top-5 over the samples of known classes."""
    known = labels != UNKNOWN_INDEX
    top5 = outputs.top(5)[known]
    truth = labels[known][:, None]
    return {
        "n": int(known.sum()),
        "top1": round(float((top5[:, :1] == truth).any(axis=1).mean()), 4) if known.any() else 0,
        "top5": round(float((top5 == truth).any(axis=1).mean()), 4) if known.any() else 0,
    }


def evaluate_synthetic(recognizer: Recognizer, n: int, *, stress: bool) -> dict[str, Any]:
    from hanzi_grader.models.training.handwriting_style import HandwritingStyle
    from hanzi_grader.models.training.samples import SampleGenerator

    generator = SampleGenerator(
        seed=EVALUATION_SEED,
        size=recognizer.input_size,
        heldout=True,
        unknown_fraction=0.0,
        style=HandwritingStyle.stress() if stress else None,
    )
    rng = np.random.default_rng([EVALUATION_SEED, int(stress)])
    labels = rng.integers(0, len(CLASSES), n)
    images = np.stack([
        generator.sample(int(label), rng)
        for label in tqdm(labels, desc="held-out synthetic" + (" (stress)" if stress else ""))
    ])
    outputs = forward(recognizer.forward, images)
    return accuracy(outputs, labels)


def evaluate_writers(recognizer: Recognizer, n: int, trajectory_dir: Path) -> dict[str, Any]:
    """Top-1/top-5 on ``n`` renders of the evaluation writers' trajectories."""
    from hanzi_grader.models.training.samples import SampleGenerator

    generator = SampleGenerator(seed=EVALUATION_SEED, size=recognizer.input_size, heldout=True,
                                unknown_fraction=0.0, real_fraction=1.0,
                                trajectory_dir=str(trajectory_dir), real_writers="evaluation")
    rng = np.random.default_rng([EVALUATION_SEED, 2])
    labels = rng.integers(0, len(CLASSES), n)
    images, writers = [], []
    for label in tqdm(labels, desc="held-out writers"):
        images.append(generator.sample(int(label), rng))
        writers.append(generator.last_writer)
    outputs = forward(recognizer.forward, np.stack(images))
    return {**accuracy(outputs, labels), "top1_by_writer": top1_by_writer(outputs, labels, writers)}


def top1_by_writer(outputs: Outputs, labels: np.ndarray,
                   writers: list[int | None]) -> dict[str, float]:
    """Top-1 of each writer's samples (renders that fell back to synthetic ones left out):
    ten writers are few, and a few very cursive ones weigh on the mean."""
    by = np.array([-1 if writer is None else writer for writer in writers])
    return {str(writer): accuracy(outputs.rows(by == writer), labels[by == writer])["top1"]
            for writer in np.unique(by[by >= 0])}


def evaluate_verifier(
    recognizer: Recognizer, n: int, trajectory_dir: Path | None = None
) -> dict[str, Any]:
    """The verifier's rates on held-out synthetic cases, or with ``trajectory_dir`` on the
    evaluation writers' characters (out-of-set input stays synthetic: no writer wrote any)."""
    cases = make_verification_set(
        n, size=recognizer.input_size, seed=EVALUATION_SEED, heldout=True,
        real_fraction=1.0 if trajectory_dir else 0.0,
        trajectory_dir=str(trajectory_dir) if trajectory_dir else None,
        real_writers="evaluation",
    )
    outputs = forward(recognizer.forward, cases.images, desc="verification cases")
    bundle = recognizer.bundle
    return verifier_rates(cases, outputs, bundle.templates, recognizer.manifest.thresholds,
                          bundle.stroke_templates, bundle.outside_templates)


def evaluate_missing_strokes(
    recognizer: Recognizer, n: int, source: str, trajectory_dir: Path | None = None
) -> dict[str, Any]:
    """Named and right shares of the missing stroke on ``n`` one-stroke-missing renders of
    ``source`` (``models.training.missing_strokes``)."""
    from hanzi_grader.models.training.missing_strokes import (
        make_missing_stroke_cases,
        missing_stroke_rates,
    )

    bundle = recognizer.bundle
    cases = make_missing_stroke_cases(n, size=recognizer.input_size, source=source,
                                      trajectory_dir=trajectory_dir)
    if not len(cases):
        return {"cases": 0}
    outputs = forward(recognizer.forward, cases.images, desc=f"missing-stroke cases ({source})")
    return missing_stroke_rates(cases, outputs, bundle.templates, recognizer.manifest.thresholds,
                                bundle.stroke_templates, bundle.outside_templates)


def evaluate_labelled(recognizer: Recognizer, samples: list[LabelledImage]) -> dict[str, Any]:
    """Accuracy on a labelled set, and the verifier on it: each image against its own
    character (accept), a look-alike where one exists, else another character of the set
    (reject). Unreadable images count as misses."""
    images, labels, unreadable = [], [], 0
    for char, image in tqdm(samples, desc="labelled images"):
        try:
            images.append(recognizer.prepare(image))
        except HanziError:
            unreadable += 1
            continue
        labels.append(index_of(char) if is_known(char) else UNKNOWN_INDEX)
    if not images:
        return {"n": 0, "unreadable": unreadable}
    labels_array = np.asarray(labels)
    outputs = forward(recognizer.forward, np.stack(images))
    result = accuracy(outputs, labels_array)
    known = labels_array != UNKNOWN_INDEX
    total_known = result["n"] + unreadable
    # Unreadable images are misses: the rates are over every image of the set.
    for key in ("top1", "top5"):
        result[key] = round(result[key] * result["n"] / max(total_known, 1), 4)
    result["unreadable"] = unreadable
    thresholds, templates = recognizer.manifest.thresholds, recognizer.bundle.templates
    strokes, outside = recognizer.bundle.stroke_templates, recognizer.bundle.outside_templates
    if known.any():
        subset = outputs.rows(known)
        own = labels_array[known]
        others = _other_targets(own, np.random.default_rng(EVALUATION_SEED))
        gaps = gaps_of(subset, templates, outside, thresholds.known_share)
        accepted = verdicts(subset, templates, own, thresholds, strokes, gaps) == "correct"
        rejected = verdicts(subset, templates, others, thresholds, strokes, gaps) != "correct"
        result["verifier_accept_correct"] = round(float(accepted.mean()), 4)
        result["verifier_reject_wrong"] = round(float(rejected.mean()), 4)
        result["unknown_flagged_known"] = round(
            float(unknown_flags(subset, thresholds, gaps).mean()), 4
        )
    if (~known).any():
        subset = outputs.rows(~known)
        gaps = gaps_of(subset, templates, outside, thresholds.known_share)
        result["unknown_flagged_out_of_set"] = round(
            float(unknown_flags(subset, thresholds, gaps).mean()), 4
        )
    return result


def _other_targets(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each label a different character: a look-alike where one exists, else another of
    the labels present (or any class if the set has one character)."""
    lookalikes: dict[int, list[int]] = {}
    for written, target in similar_pairs():
        lookalikes.setdefault(index_of(written), []).append(index_of(target))
    present = np.unique(labels)
    out = np.empty_like(labels)
    for i, label in enumerate(labels):
        pool = lookalikes.get(int(label)) or [int(c) for c in present if c != label]
        if not pool:
            pool = [int((label + 1) % len(CLASSES))]
        out[i] = pool[int(rng.integers(len(pool)))]
    return out


def measure_speed(recognizer: Recognizer, *, repeats: int = 10) -> dict[str, float]:
    """Images per second at batch 64: the service's ``recognize`` on raw 96-pixel renders
    (preprocessing included), and the bare forward pass."""
    from hanzi_grader.models.training.samples import SampleGenerator

    generator = SampleGenerator(seed=EVALUATION_SEED, size=96, unknown_fraction=0.0)
    rng = np.random.default_rng(EVALUATION_SEED)
    raw = [generator.render(int(label), rng) for label in rng.integers(0, 3755, SPEED_BATCH)]
    recognizer.recognize(raw)  # warm-up: the first call traces the graph
    started = time.perf_counter()
    for _ in range(repeats):
        recognizer.recognize(raw)
    served = SPEED_BATCH * repeats / (time.perf_counter() - started)
    prepared = np.stack([recognizer.prepare(image) for image in raw])
    started = time.perf_counter()
    for _ in range(repeats):
        recognizer.forward(prepared)
    bare = SPEED_BATCH * repeats / (time.perf_counter() - started)
    return {"batch": SPEED_BATCH, "recognize_images_per_s": round(served, 1),
            "forward_images_per_s": round(bare, 1)}


def evaluate(
    recognizer: Recognizer,
    *,
    synthetic: int = 3000,
    verifier_cases: int = 3000,
    sets: dict[str, Path] | None = None,
    speed: bool = True,
    writers: int = 0,
    trajectory_dir: Path | None = None,
    missing_stroke_cases: int = 0,
) -> dict[str, Any]:
    """Every figure, as one JSON-ready dict; the held-out writers' figures only with
    ``writers`` samples and a ``trajectory_dir`` (their missing-stroke figures with a
    ``trajectory_dir``)."""
    report: dict[str, Any] = {
        "bundle": str(recognizer.bundle.path),
        "version": recognizer.manifest.version,
        "architecture": recognizer.manifest.architecture,
        "trained": recognizer.trained,
        "runtime": recognizer.runtime,
    }
    if synthetic:
        report["synthetic_heldout"] = evaluate_synthetic(recognizer, synthetic, stress=False)
        report["synthetic_stress"] = evaluate_synthetic(recognizer, synthetic, stress=True)
    if verifier_cases:
        report["verifier_synthetic"] = evaluate_verifier(recognizer, verifier_cases)
    if writers and trajectory_dir is not None:
        report["writers_heldout"] = evaluate_writers(recognizer, writers, trajectory_dir)
        report["verifier_writers"] = evaluate_verifier(recognizer, writers, trajectory_dir)
    if missing_stroke_cases and len(recognizer.bundle.stroke_templates):  # else none named
        report["missing_stroke_synthetic"] = evaluate_missing_strokes(
            recognizer, missing_stroke_cases, "synthetic")
        if trajectory_dir is not None:
            report["missing_stroke_writers"] = evaluate_missing_strokes(
                recognizer, missing_stroke_cases, "writers", trajectory_dir)
    for name, path in (sets or {}).items():
        report.setdefault("sets", {})[name] = evaluate_labelled(recognizer, read_labelled(path))
    if speed:
        report["speed"] = measure_speed(recognizer)
    report["goals"] = goals_met(report)
    return report


def goals_met(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal whose figure the report holds: its least value, the value measured, met."""
    met = {}
    for (section, figure), goal in GOALS.items():
        value = _section(report, section).get(figure)
        if value is not None:
            met[f"{section}.{figure}"] = {"goal": goal, "measured": value, "met": value >= goal}
    return met


def _section(report: dict[str, Any], path: str) -> dict[str, Any]:
    """``report``'s section at a dotted ``path`` (``sets.real-dev``), {} where absent."""
    for key in path.split(".", 1) if path.startswith("sets.") else [path]:
        report = report.get(key, {}) if isinstance(report, dict) else {}
    return report if isinstance(report, dict) else {}


def format_report(report: dict[str, Any]) -> str:
    """A plain table of the report, one figure per line, grouped by section."""
    lines = [f"bundle {report['bundle']} ({report['architecture']}, {report['version']}), "
             f"served on {report.get('runtime', 'tensorflow (f32)')}"]
    if not report["trained"]:
        lines.append("WARNING: this bundle is UNTRAINED; its figures mean nothing")
    skip = {"sets", "goals"}
    sections = {k: v for k, v in report.items() if isinstance(v, dict) and k not in skip}
    sections.update({f"set {k}": v for k, v in report.get("sets", {}).items()})
    goals = report.get("goals", {})
    for section, figures in sections.items():
        lines.append(f"\n{section}")
        for key, value in figures.items():
            line = f"  {key:<30} {_shown(value)}"
            goal = goals.get(f"{section.replace('set ', 'sets.', 1)}.{key}")
            if goal is not None:
                verdict = "met" if goal["met"] else "SHORT"
                line = f"{line:<45} goal >= {_shown(goal['goal'])}: {verdict}"
            lines.append(line)
    if goals:
        short = [name for name, goal in goals.items() if not goal["met"]]
        lines.append(f"\ngoals met: {len(goals) - len(short)} of {len(goals)}"
                     + (f" (short: {', '.join(short)})" if short else ""))
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if isinstance(value, dict):  # e.g. top-1 by writer: "1231 63.00%, 1232 85.00%"
        return ", ".join(f"{key} {_shown(item)}" for key, item in value.items())
    return f"{value:.2%}" if isinstance(value, float) and value <= 1 else str(value)
