"""The missing-stroke evaluation: pen strokes matched to textbook strokes, its cases, its
figures, and the choice of the naming thresholds."""

from __future__ import annotations

import dataclasses

import numpy as np
from hanzi_grader.models.charset import CLASSES, UNKNOWN_INDEX, index_of
from hanzi_grader.models.training.medians import prepared_character
from hanzi_grader.models.training.missing_strokes import (
    MissingStrokeCases,
    choose_missing_stroke_thresholds,
    make_missing_stroke_cases,
    missing_stroke_rates,
    textbook_strokes,
)
from hanzi_grader.models.training.scoring import Outputs
from hanzi_grader.models.verifier import StrokeTemplates, Thresholds

from tests.training.conftest import PEN_STROKES


def test_pen_strokes_are_matched_to_the_textbook_strokes_they_are(stroke_data):
    # Given 口 written along its medians on a tablet (0-255, y down), in another order: the
    # bottom 横 first, then 竖 and 横折
    textbook = prepared_character("口").points
    tablet = [np.clip(stroke * 255, 0, 255).astype(np.uint8) for stroke in textbook]
    pen = [tablet[2], tablet[0], tablet[1]]
    # Then each pen stroke is the textbook stroke in its place
    assert textbook_strokes(pen, textbook).tolist() == [2, 0, 1]
    # And a pen stroke like none of them (a stroke across the middle) matches nothing
    scribble = [tablet[0], tablet[1], PEN_STROKES["人"][0]]
    assert textbook_strokes(scribble, textbook) is None


def test_synthetic_cases_leave_out_one_of_the_targets_strokes(stroke_data):
    cases = make_missing_stroke_cases(4, size=32, source="synthetic", progress=False)
    assert cases.images.shape == (4, 32, 32, 1)
    for target, missing in zip(cases.targets, cases.missing, strict=True):
        assert 0 <= missing < prepared_character(CLASSES[target]).n_strokes


def test_writer_cases_come_from_the_evaluation_writers(stroke_data, tiny_parts):
    cases = make_missing_stroke_cases(3, size=32, source="writers", trajectory_dir=tiny_parts,
                                      progress=False)
    assert len(cases) <= 3  # only samples whose pen strokes are the textbook's, one each
    for target, missing in zip(cases.targets, cases.missing, strict=True):
        assert CLASSES[target] in PEN_STROKES
        assert 0 <= missing < prepared_character(CLASSES[target]).n_strokes


# -- the figures, on made-up embeddings ---------------------------------------------------

TEN = index_of("十")  # 横 then 竖: two stroke templates
DIM = 4


def _setup() -> tuple[np.ndarray, StrokeTemplates, Thresholds]:
    templates = np.zeros((len(CLASSES), DIM), np.float32)
    templates[TEN] = [1.0, 0.0, 0.0, 0.0]
    offsets = np.zeros(len(CLASSES) + 1, np.int64)
    offsets[TEN + 1:] = 2
    # Missing 横 moves towards axis 1, missing 竖 towards axis 2 (offsets from the template).
    deltas = np.array([[-1.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 1.0, 0.0]], np.float32)
    thresholds = Thresholds(accept_similarity=0.9, wrong_similarity=-1.0,
                            unknown_confidence=0.0, wrong_confidence=1.0,
                            missing_stroke_sharpness=20.0, missing_stroke_confidence=0.8)
    return templates, StrokeTemplates(deltas, offsets), thresholds


def _outputs(embeddings: list[list[float]]) -> Outputs:
    probabilities = np.zeros((len(embeddings), UNKNOWN_INDEX + 1), np.float32)
    probabilities[:, TEN] = 1.0
    unit = np.asarray(embeddings, np.float32)
    return Outputs(probabilities, unit / np.linalg.norm(unit, axis=1, keepdims=True))


def test_rates_count_named_strokes_over_incomplete_verdicts_and_right_over_named():
    templates, strokes, thresholds = _setup()
    outputs = _outputs([
        [1.0, 0.0, 0.0, 0.0],  # the whole character: correct, nothing to name
        [0.2, 1.0, 0.0, 0.0],  # 横 missing, named 横: right
        [0.2, 0.0, 1.0, 0.0],  # 竖 missing, named 竖: right
        [0.2, 1.0, 0.0, 0.0],  # 竖 missing, named 横: wrong
        [0.2, 0.7, 0.7, 0.0],  # half way between: incomplete, named nothing
    ])
    cases = MissingStrokeCases(np.zeros((5, 1, 1, 1)), np.full(5, TEN), np.array([0, 0, 1, 1, 0]))

    rates = missing_stroke_rates(cases, outputs, templates, thresholds, strokes)

    assert rates["cases"] == 5
    assert rates["incomplete"] == 0.8
    assert rates["named"] == 0.75  # 3 of the 4 incomplete
    assert rates["right"] == round(2 / 3, 4)


def test_the_chosen_thresholds_keep_the_named_right_in_every_set():
    templates, strokes, thresholds = _setup()
    clear = _outputs([[0.2, 1.0, 0.0, 0.0]] * 4)  # all near 横's template
    # Nearer 横 (right), then a little nearer 竖 (wrong): only a threshold between names
    # the one and not the other.
    murky = _outputs([[0.2, 1.0, 0.6, 0.0], [0.2, 0.9, 1.0, 0.0]])
    sets = [(MissingStrokeCases(np.zeros((4, 1, 1, 1)), np.full(4, TEN), np.zeros(4, int)),
             clear),
            (MissingStrokeCases(np.zeros((2, 1, 1, 1)), np.full(2, TEN), np.array([0, 0])),
             murky)]

    sharpness, confidence = choose_missing_stroke_thresholds(sets, templates, thresholds,
                                                             strokes, right=0.9)

    chosen = dataclasses.replace(thresholds, missing_stroke_sharpness=sharpness,
                                 missing_stroke_confidence=confidence)
    for cases, outputs in sets:
        rates = missing_stroke_rates(cases, outputs, templates, chosen, strokes)
        assert rates["right"] == 1.0
    # and it names the clear ones, and the murky one it can
    assert [missing_stroke_rates(*each, templates, chosen, strokes)["named"]
            for each in sets] == [1.0, 0.5]


def test_calibration_chooses_the_naming_thresholds_for_a_bundle(stroke_data):
    from hanzi_grader.models.bundle import load_bundle
    from hanzi_grader.models.training.missing_strokes import (
        CONFIDENCES,
        SHARPNESSES,
        calibrate_missing_strokes,
    )

    from hanzi_grader.settings import SHIPPED_MODEL_DIR

    bundle = load_bundle(SHIPPED_MODEL_DIR)
    thresholds = bundle.manifest.thresholds

    chosen, report = calibrate_missing_strokes(
        bundle.model, bundle.manifest.input_size, 40, bundle.templates, thresholds,
        bundle.stroke_templates, bundle.outside_templates)

    assert chosen.missing_stroke_sharpness in SHARPNESSES
    assert chosen.missing_stroke_confidence in CONFIDENCES
    assert dataclasses.replace(chosen, missing_stroke_sharpness=0.0,
                               missing_stroke_confidence=0.0) == dataclasses.replace(
        thresholds, missing_stroke_sharpness=0.0, missing_stroke_confidence=0.0)
    assert set(report) == {"synthetic"} and report["synthetic"]["cases"] == 40


def test_an_existing_bundle_gets_its_naming_thresholds_and_still_loads(
    stroke_data, tmp_path, tiny_parts
):
    import json
    import shutil

    from click.testing import CliRunner
    from hanzi_grader.models.bundle import load_bundle
    from hanzi_grader.models.verifier import Thresholds

    from hanzi_grader.cli import cli
    from hanzi_grader.settings import SHIPPED_MODEL_DIR

    # Given a copy of the shipped bundle as calibrated before strokes were named
    bundle = tmp_path / "bundle"
    shutil.copytree(SHIPPED_MODEL_DIR, bundle)
    before = json.loads((bundle / "manifest.json").read_text())
    for key in ("missing_stroke_sharpness", "missing_stroke_confidence"):
        before["thresholds"].pop(key, None)
    (bundle / "manifest.json").write_text(json.dumps(before), encoding="utf-8")

    result = CliRunner().invoke(cli, ["calibrate-missing-stroke", str(bundle), "--cases", "30",
                                      "--trajectories", str(tiny_parts)])

    # Then its manifest holds the chosen pair and the rates, and nothing else changed
    assert result.exit_code == 0, result.output
    after = json.loads((bundle / "manifest.json").read_text())
    assert {"missing_stroke_sharpness", "missing_stroke_confidence"} <= set(after["thresholds"])
    assert after["evaluation"]["calibration"]["missing_stroke"]["synthetic"]["cases"] == 30
    for key in ("model_sha256", "templates_sha256", "version", "created"):
        assert after[key] == before[key]
    unchanged = {k: v for k, v in after["thresholds"].items() if not k.startswith("missing_")}
    newer = {k: getattr(Thresholds, k) for k in unchanged.keys() - before["thresholds"].keys()}
    assert unchanged == {**newer, **before["thresholds"]}  # fields it lacked: their defaults
    assert load_bundle(bundle).manifest.thresholds.missing_stroke_confidence == (
        after["thresholds"]["missing_stroke_confidence"])
