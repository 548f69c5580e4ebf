"""Threshold choice on constructed cases, where the right answer is known."""

from __future__ import annotations

import numpy as np
from hanzi_grader.models.charset import UNKNOWN_INDEX
from hanzi_grader.models.training.calibrate import CalibrationConfig, choose_thresholds
from hanzi_grader.models.training.probes import VerificationSet
from hanzi_grader.models.training.scoring import Outputs, verifier_rates
from hanzi_grader.models.verifier import StrokeTemplates

DIM = 8


def _constructed(rng: np.random.Generator) -> tuple[VerificationSet, Outputs, np.ndarray]:
    """Cases whose similarities to the target template are drawn from known ranges:
    correct 0.8..1.0, incomplete 0.55..0.85, wrong 0.0..0.6; unknowns have a flat softmax."""
    templates = np.zeros((3755, DIM), dtype=np.float32)
    templates[:, 0] = 1.0
    kinds, sims, truth = [], [], []
    for kind, low, high, n in [("correct", 0.8, 1.0, 400), ("incomplete", 0.55, 0.85, 300),
                               ("wrong", 0.0, 0.6, 200), ("similar", 0.3, 0.65, 100),
                               ("unknown", 0.0, 0.5, 200)]:
        kinds += [kind] * n
        sims += list(rng.uniform(low, high, n))
        truth += [UNKNOWN_INDEX if kind == "unknown" else 1] * n
    sims = np.asarray(sims, dtype=np.float32)
    # A unit embedding whose cosine with the template (e0) is exactly ``sim``.
    embeddings = np.zeros((len(sims), DIM), dtype=np.float32)
    embeddings[:, 0], embeddings[:, 1] = sims, np.sqrt(1 - sims**2)
    probabilities = np.full((len(sims), 3756), 1e-6, dtype=np.float32)
    kinds_array = np.asarray(kinds)
    known = kinds_array != "unknown"
    probabilities[known, 1] = rng.uniform(0.6, 1.0, known.sum())
    probabilities[~known, 2] = rng.uniform(0.01, 0.2, (~known).sum())
    cases = VerificationSet(
        images=np.zeros((len(sims), 1, 1, 1), dtype=np.float32),
        truth=np.asarray(truth),
        targets=np.zeros(len(sims), dtype=np.int64),
        kinds=kinds_array,
    )
    return cases, Outputs(probabilities, embeddings), templates


def test_thresholds_meet_the_stated_false_accept_rates_on_a_constructed_case():
    cases, outputs, templates = _constructed(np.random.default_rng(0))
    cfg = CalibrationConfig(false_accept=0.05, incomplete_false_accept=0.2)
    thresholds = choose_thresholds(cases, outputs, templates, cfg)
    rates = verifier_rates(cases, outputs, templates, thresholds)
    assert rates["reject_wrong"] >= 0.95
    assert rates["reject_incomplete"] >= 0.8
    # Incomplete renders reach up to 0.85, so accepting needs about 0.79: most correct pass.
    assert 0.75 <= thresholds.accept_similarity <= 0.85
    assert rates["accept_correct"] >= 0.9
    # Unknowns (top probability <= 0.2) are told from characters (>= 0.6).
    assert rates["unknown_flagged"] >= 0.95
    assert rates["correct_flagged_unknown"] <= 0.02
    assert thresholds.wrong_similarity <= thresholds.accept_similarity


def test_a_stricter_stated_rate_gives_a_higher_accept_threshold():
    cases, outputs, templates = _constructed(np.random.default_rng(1))
    loose = choose_thresholds(cases, outputs, templates,
                              CalibrationConfig(false_accept=0.2, incomplete_false_accept=0.6))
    strict = choose_thresholds(cases, outputs, templates,
                               CalibrationConfig(false_accept=0.01, incomplete_false_accept=0.05))
    assert strict.accept_similarity > loose.accept_similarity


def test_calibration_weighs_in_the_classifier_where_it_tells_look_alikes_apart():
    """Look-alikes as close to the template as correct renders, but the classifier gives the
    target little probability: the cosine alone must turn most correct renders away to reject
    them, the match score need not."""
    rng = np.random.default_rng(2)
    cases, outputs, templates = _constructed(rng)
    similar = cases.where("similar")
    sims = rng.uniform(0.8, 1.0, similar.sum()).astype(np.float32)
    outputs.embeddings[similar, 0], outputs.embeddings[similar, 1] = sims, np.sqrt(1 - sims**2)
    known = cases.kinds != "unknown"
    outputs.probabilities[known & ~similar, 0] = outputs.probabilities[known & ~similar, 1]
    outputs.probabilities[known & ~similar, 1] = 1e-6
    cfg = CalibrationConfig(false_accept=0.05, incomplete_false_accept=0.2)
    thresholds = choose_thresholds(cases, outputs, templates, cfg)
    rates = verifier_rates(cases, outputs, templates, thresholds)
    assert thresholds.class_weight > 0
    assert rates["reject_similar"] >= 0.95
    assert rates["reject_incomplete"] >= 0.8
    assert rates["accept_correct"] >= 0.9


def test_calibration_weighs_in_the_stroke_margin_where_it_finds_missing_strokes():
    """Incomplete renders as close to the template as correct ones, but nearer one of the
    target's stroke-missing templates: the cosine alone cannot reject them, the match score
    with the stroke margin can."""
    rng = np.random.default_rng(3)
    cases, outputs, templates = _constructed(rng)
    incomplete = cases.where("incomplete")
    sims = rng.uniform(0.8, 1.0, incomplete.sum()).astype(np.float32)
    outputs.embeddings[incomplete, 0] = sims
    outputs.embeddings[incomplete, 1] = 0.0
    outputs.embeddings[incomplete, 2] = np.sqrt(1 - sims**2)  # off towards the e2 side
    # Target 0's one stroke template lies off the full template (e0) towards e2.
    missing = np.array([[0.6, 0.0, 0.8] + [0.0] * (DIM - 3)], dtype=np.float32)
    strokes = StrokeTemplates(missing - templates[:1],
                              np.concatenate([[0], np.ones(3755, dtype=np.int64)]))
    cfg = CalibrationConfig(false_accept=0.05, incomplete_false_accept=0.2)
    without = verifier_rates(cases, outputs, templates,
                             choose_thresholds(cases, outputs, templates, cfg))
    thresholds = choose_thresholds(cases, outputs, templates, cfg, strokes)
    rates = verifier_rates(cases, outputs, templates, thresholds, strokes)
    assert thresholds.stroke_weight > 0
    assert rates["reject_incomplete"] >= 0.8
    assert rates["accept_correct"] >= 0.9 > without["accept_correct"]


def test_calibration_flags_unknowns_by_the_unknown_class_where_confidence_cannot():
    """Out-of-set input as confident in some known class as many correct renders, but with a
    probable Unknown class: the top known probability cannot flag it, P(Unknown) can."""
    rng = np.random.default_rng(4)
    cases, outputs, templates = _constructed(rng)
    correct, unknown = cases.where("correct"), cases.where("unknown")
    p = outputs.probabilities
    p[correct, 1] = rng.uniform(0.3, 1.0, correct.sum())
    p[correct, UNKNOWN_INDEX] = rng.uniform(0.0, 0.02, correct.sum())
    p[unknown, 2] = rng.uniform(0.35, 0.6, unknown.sum())
    p[unknown, UNKNOWN_INDEX] = rng.uniform(0.2, 0.3, unknown.sum())
    cfg = CalibrationConfig(max_correct_unknown=0.04)
    thresholds = choose_thresholds(cases, outputs, templates, cfg)
    rates = verifier_rates(cases, outputs, templates, thresholds)
    assert 0.0 < thresholds.unknown_probability <= 0.2
    assert rates["unknown_flagged"] >= 0.95
    assert rates["correct_flagged_unknown"] <= 0.04


def test_calibration_flags_unknowns_by_their_outside_gap_where_the_classifier_cannot():
    """Out-of-set input that neither the Unknown class's probability nor the top known one
    tells from correct renders, but that lies near a template of a character outside the set
    (e1) while correct renders lie near their own (e0)."""
    rng = np.random.default_rng(5)
    cases, outputs, templates = _constructed(rng)
    correct, unknown = cases.where("correct"), cases.where("unknown")
    p = outputs.probabilities
    for kind, column in ((correct, 1), (unknown, 2)):
        p[kind, column] = rng.uniform(0.3, 1.0, kind.sum())
        p[kind, UNKNOWN_INDEX] = rng.uniform(0.001, 0.3, kind.sum())
    outside = np.eye(DIM, dtype=np.float32)[1:2]
    cfg = CalibrationConfig(max_correct_unknown=0.03)

    without = verifier_rates(cases, outputs, templates,
                             choose_thresholds(cases, outputs, templates, cfg))
    thresholds = choose_thresholds(cases, outputs, templates, cfg, outside=outside)
    rates = verifier_rates(cases, outputs, templates, thresholds, outside=outside)

    assert thresholds.outside_weight > 0
    assert rates["unknown_flagged"] >= 0.95 > 0.5 > without["unknown_flagged"]
    assert rates["correct_flagged_unknown"] <= 0.03


def test_calibration_weighs_the_known_similarity_in_the_gap_where_that_flags_more(monkeypatch):
    """Out-of-set input and correct renders that the plain outside gap cannot tell apart: both
    spread along the same line in (nearest known, nearest outside) similarity, the out-of-set
    input 0.1 higher on it. Counting half the known similarity separates them."""
    from hanzi_grader.models.training import calibrate

    rng = np.random.default_rng(7)
    cases, outputs, templates = _constructed(rng)
    correct, unknown = cases.where("correct"), cases.where("unknown")
    p, e = outputs.probabilities, outputs.embeddings
    for kind, offset in ((correct, -0.05), (unknown, 0.05)):
        known = rng.uniform(0.0, 0.8, kind.sum()).astype(np.float32)
        outside = 0.5 * known + offset
        e[kind] = 0.0
        e[kind, 0], e[kind, 2] = known, outside  # the known templates lie along e0
        e[kind, 3] = np.sqrt(1 - known**2 - outside**2)
        p[kind] = 1e-6
        p[kind, 1], p[kind, UNKNOWN_INDEX] = rng.uniform(0.3, 1.0, kind.sum()), 0.1
    outside_templates = np.eye(DIM, dtype=np.float32)[2:3]
    cfg = CalibrationConfig(max_correct_unknown=0.03)

    thresholds = choose_thresholds(cases, outputs, templates, cfg, outside=outside_templates)
    rates = verifier_rates(cases, outputs, templates, thresholds, outside=outside_templates)
    monkeypatch.setattr(calibrate, "KNOWN_SHARES", (1.0,))
    plain = choose_thresholds(cases, outputs, templates, cfg, outside=outside_templates)
    plain_rates = verifier_rates(cases, outputs, templates, plain, outside=outside_templates)

    assert thresholds.known_share == 0.5 and plain.known_share == 1.0
    assert rates["unknown_flagged"] >= 0.95 > 0.8 > plain_rates["unknown_flagged"]
    assert rates["correct_flagged_unknown"] <= 0.03


def test_stroke_template_jobs_give_the_shared_reference_its_own_count_of_renders(stroke_data):
    from hanzi_grader.models.charset import index_of
    from hanzi_grader.models.training.calibrate import _stroke_jobs

    jobs = _stroke_jobs([index_of("口"), index_of("一")], per=2, reference=5, size=32)
    whole = [job for job in jobs if job[1] == -1]
    assert [job[2] for job in whole] == [0, 1, 2, 3, 4]
    assert sorted({job[1] for job in jobs if job[1] >= 0}) == [0, 1, 2]  # 口's three strokes
    assert len(jobs) == 5 + 3 * 2  # 一 has no stroke to leave out: no jobs at all


def test_stress_renders_share_the_allowance_of_correct_input_flagged_unknown():
    """Harsher correct renders with a more probable Unknown class than the calibration set's:
    counted in, they hold the threshold high enough that few of them are flagged."""
    rng = np.random.default_rng(6)
    cases, outputs, templates = _constructed(rng)
    correct, unknown = cases.where("correct"), cases.where("unknown")
    p = outputs.probabilities
    p[correct, UNKNOWN_INDEX] = rng.uniform(0.0, 0.02, correct.sum())
    p[unknown, UNKNOWN_INDEX] = rng.uniform(0.1, 0.4, unknown.sum())
    stress_cases, stress_outputs, _ = _constructed(np.random.default_rng(7))
    stress_correct = stress_cases.where("correct")
    stress_outputs.probabilities[stress_correct, UNKNOWN_INDEX] = rng.uniform(
        0.0, 0.2, stress_correct.sum())
    cfg = CalibrationConfig(max_correct_unknown=0.03)

    alone = choose_thresholds(cases, outputs, templates, cfg)
    shared = choose_thresholds(cases, outputs, templates, cfg,
                               stress=(stress_cases, stress_outputs))
    stress_rates = [verifier_rates(stress_cases, stress_outputs, templates, thresholds)
                    for thresholds in (alone, shared)]

    calibration_rate = verifier_rates(cases, outputs, templates, shared)[
        "correct_flagged_unknown"]
    assert shared.unknown_probability > alone.unknown_probability
    assert stress_rates[1]["correct_flagged_unknown"] < 0.5 * stress_rates[0][
        "correct_flagged_unknown"]
    # One allowance over the correct renders of both sets (400 each)
    assert (calibration_rate + stress_rates[1]["correct_flagged_unknown"]) / 2 <= 0.03
