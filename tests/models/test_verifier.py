import sys

import numpy as np
import pytest
from hanzi_grader.models.results import Verdict
from hanzi_grader.models.verifier import (
    StrokeTemplates,
    Thresholds,
    build_stroke_templates,
    build_templates,
    decide_verdict,
    is_unknown,
    l2_normalize,
    outside_gaps,
    similarities,
)

THRESHOLDS = Thresholds(
    accept_similarity=0.8, wrong_similarity=0.5, unknown_confidence=0.3, wrong_confidence=0.5
)
UNKNOWN = 3  # three known classes and an Unknown output


def probabilities(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def verdict(similarity, probs, target=0, has_template=True, unknown_index=UNKNOWN):
    return decide_verdict(
        target_index=target,
        has_template=has_template,
        similarity=similarity,
        probabilities=probs,
        thresholds=THRESHOLDS,
        unknown_index=unknown_index,
    )


def test_l2_normalize_gives_unit_vectors_and_keeps_zeros():
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_templates_are_renormalised_means_of_normalised_embeddings():
    embeddings = np.array([[10.0, 0.0], [0.0, 1.0], [0.0, 5.0], [1.0, 1.0]])
    labels = np.array([0, 0, 1, 3])  # label 3 (Unknown) has no template
    templates, mask = build_templates(embeddings, labels, num_classes=3)
    np.testing.assert_allclose(templates[0], [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-6)
    np.testing.assert_allclose(templates[1], [0.0, 1.0])
    np.testing.assert_allclose(templates[2], [0.0, 0.0])
    assert mask.tolist() == [True, True, False]


def test_similarity_is_the_cosine_to_the_target_template():
    templates = l2_normalize(np.array([[1.0, 0.0], [0.0, 1.0]]))
    sims = similarities(np.array([[2.0, 2.0], [0.0, 3.0]]), templates, np.array([0, 1]))
    np.testing.assert_allclose(sims, [np.sqrt(0.5), 1.0], rtol=1e-6)


def test_correct_when_the_similarity_reaches_the_threshold():
    assert verdict(0.8, probabilities(0.9, 0.05, 0.03, 0.02)) is Verdict.CORRECT
    # even when the classifier prefers another class: the template decides
    assert verdict(0.95, probabilities(0.3, 0.6, 0.05, 0.05)) is Verdict.CORRECT


def test_wrong_character_when_another_class_clearly_wins_and_similarity_is_low():
    assert verdict(0.2, probabilities(0.05, 0.9, 0.03, 0.02)) is Verdict.WRONG_CHARACTER


def test_missing_strokes_are_incomplete_when_the_target_still_wins():
    assert verdict(0.6, probabilities(0.9, 0.05, 0.03, 0.02)) is Verdict.INCOMPLETE_OR_UNCLEAR
    assert verdict(0.3, probabilities(0.7, 0.2, 0.05, 0.05)) is Verdict.INCOMPLETE_OR_UNCLEAR


def test_close_call_is_incomplete_not_wrong():
    # another class wins, but not clearly, or the similarity is not low
    assert verdict(0.3, probabilities(0.35, 0.45, 0.1, 0.1)) is Verdict.INCOMPLETE_OR_UNCLEAR
    assert verdict(0.7, probabilities(0.05, 0.9, 0.03, 0.02)) is Verdict.INCOMPLETE_OR_UNCLEAR


def test_unknown_when_the_unknown_class_wins_or_nothing_is_confident():
    assert verdict(0.1, probabilities(0.1, 0.1, 0.1, 0.7)) is Verdict.UNKNOWN
    assert verdict(0.1, probabilities(0.25, 0.25, 0.25, 0.25)) is Verdict.UNKNOWN
    assert (
        verdict(0.1, probabilities(0.25, 0.25, 0.5), unknown_index=None) is Verdict.WRONG_CHARACTER
    )
    # a high similarity overrides the Unknown class
    assert verdict(0.9, probabilities(0.1, 0.1, 0.1, 0.7)) is Verdict.CORRECT


def test_invalid_target_without_an_index_or_a_template():
    probs = probabilities(0.9, 0.05, 0.03, 0.02)
    assert verdict(None, probs, target=None) is Verdict.INVALID_TARGET
    assert verdict(0.9, probs, has_template=False) is Verdict.INVALID_TARGET


def test_is_unknown_uses_the_confidence_threshold():
    assert is_unknown(probabilities(0.29, 0.2, 0.2, 0.31), THRESHOLDS, UNKNOWN)
    assert not is_unknown(probabilities(0.31, 0.2, 0.2, 0.29), THRESHOLDS, UNKNOWN)
    assert is_unknown(probabilities(0.29, 0.71), THRESHOLDS, 1)


def test_a_probable_unknown_class_flags_input_even_where_a_known_class_wins():
    probs = probabilities(0.5, 0.1, 0.1, 0.3)
    assert not is_unknown(probs, THRESHOLDS, UNKNOWN)  # older manifests: only when it wins
    flagging = Thresholds(**{**THRESHOLDS.to_dict(), "unknown_probability": 0.25})
    assert is_unknown(probs, flagging, UNKNOWN)
    assert not is_unknown(probabilities(0.6, 0.1, 0.1, 0.2), flagging, UNKNOWN)


def test_outside_gap_is_how_much_nearer_the_nearest_out_of_set_template_lies():
    templates = np.eye(4, dtype=np.float32)[:2]  # known classes along e0 and e1
    outside = np.eye(4, dtype=np.float32)[2:]  # characters outside the set along e2 and e3
    embeddings = l2_normalize(np.array([[1.0, 0, 0.5, 0], [0, 0.2, 0, 1.0]], np.float32))
    gaps = outside_gaps(embeddings, templates, outside)
    np.testing.assert_allclose(gaps, [(0.5 - 1.0) / np.sqrt(1.25), (1.0 - 0.2) / np.sqrt(1.04)],
                               rtol=1e-5)
    assert outside_gaps(embeddings, templates, outside[:0]).tolist() == [0.0, 0.0]
    # A share of the known similarity: a sample near no template at all leans to Unknown.
    halved = outside_gaps(embeddings, templates, outside, known_share=0.5)
    np.testing.assert_allclose(halved, [(0.5 - 0.5) / np.sqrt(1.25), (1.0 - 0.1) / np.sqrt(1.04)],
                               rtol=1e-5, atol=1e-6)
    assert Thresholds.from_dict({**THRESHOLDS.to_dict(), "known_share": 0.5}).known_share == 0.5
    older = {k: v for k, v in THRESHOLDS.to_dict().items() if k != "known_share"}
    assert Thresholds.from_dict(older).known_share == 1.0  # older manifests: the plain gap


def test_with_an_outside_weight_the_unknown_score_alone_flags_input():
    thresholds = Thresholds(**{**THRESHOLDS.to_dict(), "unknown_confidence": 0.1,
                               "unknown_probability": 0.5, "outside_weight": 10.0})
    # A known class wins, but the sample lies nearer an out-of-set template: 0.2 * e^1 >= 0.5
    known_wins = probabilities(0.5, 0.2, 0.1, 0.2)
    assert is_unknown(known_wins, thresholds, UNKNOWN, outside_gap=0.1)
    assert not is_unknown(known_wins, thresholds, UNKNOWN, outside_gap=-0.1)
    # The Unknown class wins, but the sample lies nearer a known template: 0.6 * e^-2 < 0.5
    unknown_wins = probabilities(0.2, 0.1, 0.1, 0.6)
    assert not is_unknown(unknown_wins, thresholds, UNKNOWN, outside_gap=-0.2)
    assert is_unknown(unknown_wins, THRESHOLDS, UNKNOWN, outside_gap=-0.2)  # no weight: it wins
    # ... and a sample far from every known class is called unknown by the verdict too
    assert decide_verdict(target_index=0, has_template=True, similarity=0.1,
                          probabilities=known_wins, thresholds=thresholds,
                          unknown_index=UNKNOWN, outside_gap=0.1) is Verdict.UNKNOWN


def test_thresholds_round_trip_and_refuse_bad_manifests():
    assert Thresholds.from_dict(THRESHOLDS.to_dict()) == THRESHOLDS
    with pytest.raises(ValueError, match="wrong_confidence"):
        Thresholds.from_dict(
            {"accept_similarity": 1, "wrong_similarity": 1, "unknown_confidence": 1}
        )
    bad = {**THRESHOLDS.to_dict(), "accept_similarity": "high"}
    with pytest.raises(ValueError, match="'high'"):
        Thresholds.from_dict(bad)


def test_the_verifier_does_not_import_tensorflow():
    assert "hanzi_grader.models.verifier" in sys.modules
    import subprocess

    code = "import sys, hanzi_grader.models.verifier; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_match_score_lowers_a_target_the_classifier_rules_out():
    weighted = Thresholds(**{**THRESHOLDS.to_dict(), "class_weight": 0.05})
    probs = probabilities(0.0, 0.99, 0.01, 0.0)  # class 1 wins; the target 0 has no share

    def with_weight(thresholds):
        return decide_verdict(target_index=0, has_template=True, similarity=0.85,
                              probabilities=probs, thresholds=thresholds, unknown_index=UNKNOWN)

    assert with_weight(THRESHOLDS) == Verdict.CORRECT  # the cosine alone clears 0.8
    assert with_weight(weighted) != Verdict.CORRECT  # 0.85 + 0.05 * log(1e-6) does not


def test_manifests_without_a_class_weight_read_as_cosine_alone():
    data = THRESHOLDS.to_dict()
    del data["class_weight"]
    assert Thresholds.from_dict(data).class_weight == 0.0


def _stroke_case():
    """Class 0 with a full template e0 and two strokes whose absence moves the embedding
    towards e1 and e2; class 1 has no stroke templates."""
    templates = np.eye(3, dtype=np.float32)[:2]
    missing = l2_normalize(np.array([[0.8, 0.6, 0.0], [0.8, 0.0, 0.6]]))
    embeddings = np.concatenate([missing, missing])
    strokes = build_stroke_templates(embeddings, np.array([0, 0, 0, 0]), np.array([0, 1, 0, 1]),
                                     templates)
    return templates, missing, strokes


def test_stroke_templates_are_offsets_from_the_full_template():
    templates, missing, strokes = _stroke_case()
    assert len(strokes) == 2 and strokes.offsets.tolist() == [0, 2, 2]
    np.testing.assert_allclose(strokes.of(0) + templates[0], missing, atol=1e-6)
    assert strokes.of(1).shape == (0, 3)


def test_the_stroke_margin_is_negative_towards_a_missing_stroke_and_zero_without_templates():
    _, missing, strokes = _stroke_case()
    complete = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    lacking = missing[1]
    margins = strokes.margins(np.stack([complete, lacking, lacking]), np.array([0, 0, 1]))
    assert margins[0] > 0  # nearer the full template than any stroke-missing one
    assert margins[1] < 0  # nearer the template without stroke 1
    assert margins[2] == 0  # class 1 has no stroke templates


def test_the_stroke_weight_turns_a_missing_stroke_from_correct_to_incomplete():
    _, missing, strokes = _stroke_case()
    lacking = missing[1]
    similarity = float(lacking @ np.array([1.0, 0.0, 0.0]))  # 0.8: the cosine alone accepts
    margin = float(strokes.margins(lacking, 0)[0])
    # completeness: 0.8 + 1.0 * margin (-0.2) = 0.6, under the gate at 0.7
    weighted = Thresholds(**{**THRESHOLDS.to_dict(), "stroke_weight": 1.0,
                             "stroke_threshold": 0.7})
    probs = probabilities(0.9, 0.05, 0.03, 0.02)

    def judged(thresholds):
        return decide_verdict(target_index=0, has_template=True, similarity=similarity,
                              probabilities=probs, thresholds=thresholds, unknown_index=UNKNOWN,
                              stroke_margin=margin)

    assert judged(THRESHOLDS) is Verdict.CORRECT
    assert judged(weighted) is Verdict.INCOMPLETE_OR_UNCLEAR
    # a complete rendering (margin +0.2) passes the same gate
    complete = decide_verdict(target_index=0, has_template=True, similarity=similarity,
                              probabilities=probs, thresholds=weighted, unknown_index=UNKNOWN,
                              stroke_margin=0.2)
    assert complete is Verdict.CORRECT


def test_the_completeness_gate_does_not_let_a_wrong_character_through():
    # a high stroke margin (noise, for a sample far from every template of the target) must
    # not lift a sample the match score calls another character
    weighted = Thresholds(**{**THRESHOLDS.to_dict(), "stroke_weight": 5.0,
                             "stroke_threshold": 0.5})
    found = decide_verdict(target_index=0, has_template=True, similarity=0.2,
                           probabilities=probabilities(0.05, 0.9, 0.03, 0.02),
                           thresholds=weighted, unknown_index=UNKNOWN, stroke_margin=0.3)
    assert found is Verdict.WRONG_CHARACTER


def test_stroke_template_offsets_must_cover_the_rows():
    with pytest.raises(ValueError, match="offsets"):
        StrokeTemplates(np.zeros((3, 2), np.float32), np.array([0, 2]))
    assert StrokeTemplates.empty(4, 2).margins(np.ones((1, 2)), np.array([3])).tolist() == [0.0]
