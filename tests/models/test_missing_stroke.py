"""Naming the missing stroke: stroke kinds from medians, the naming rule, and the shipped
bundle naming the stroke left out of characters drawn from their medians."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.bundle import load_manifest
from hanzi_grader.models.charset import CLASSES, index_of
from hanzi_grader.models.missing_stroke import guess_missing_stroke, name_missing_stroke
from hanzi_grader.models.results import MissingStroke, Recognition, Verdict
from hanzi_grader.models.stroke_kinds import KINDS, stroke_kind, stroke_kinds
from hanzi_grader.models.verifier import (
    MISSING_STROKE_CONFIDENCE,
    MISSING_STROKE_SHARPNESS,
    StrokeTemplates,
    Thresholds,
)
from PIL import Image, ImageDraw

from hanzi_grader.cli import cli
from hanzi_grader.settings import SHIPPED_MODEL_DIR

# -- stroke kinds ------------------------------------------------------------------------
# Medians in the package's box: 1024 units, y pointing UP.


@pytest.mark.parametrize(("median", "kind"), [
    ([[100, 450], [500, 460], [900, 450]], "横"),
    ([[500, 850], [505, 400], [500, -50]], "竖"),
    ([[600, 800], [450, 450], [150, 100]], "撇"),
    ([[300, 700], [600, 400], [900, 100]], "捺"),
    ([[400, 500], [460, 420], [500, 350]], "点"),  # short, falling right
    ([[300, 200], [450, 300], [600, 400]], "提"),  # rising right
    ([[200, 700], [800, 700], [800, 100]], "折"),  # 横折: across, then down
    ([[500, 850], [500, 100], [500, 30], [400, 100]], "钩"),  # 竖钩: down, a short flick
])
def test_stroke_kind_reads_the_shape_of_a_median(median, kind):
    assert stroke_kind(median) == kind


def test_a_brush_lead_in_is_not_a_turn():
    # 十's 竖 as the data has it: a short slant in before the long way down.
    assert stroke_kind([[456, 811], [484, 803], [522, 767], [512, 593], [507, -33]]) == "竖"


def test_the_shipped_table_holds_every_character_in_stroke_order():
    assert stroke_kinds("十") == ["横", "竖"]
    assert stroke_kinds("人") == ["撇", "捺"]
    assert stroke_kinds("丁") == ["横", "钩"]
    assert stroke_kinds("a") is None
    assert all(set(stroke_kinds(char)) <= set(KINDS) for char in CLASSES)


def test_the_shipped_table_is_what_the_medians_give(tmp_path):
    from hanzi_grader.models.stroke_kinds import TABLE, build_table
    from hanzi_grader.models.training.strokes import StrokeData, StrokeDataMissing

    try:
        StrokeData.load()
    except StrokeDataMissing:
        pytest.skip("no stroke data: run hanzi fetch-strokes")
    rebuilt = build_table(tmp_path / "stroke_kinds.txt")
    assert rebuilt.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8")


# -- naming ------------------------------------------------------------------------------

THRESHOLDS = Thresholds(accept_similarity=0.8, wrong_similarity=0.5, unknown_confidence=0.3,
                        wrong_confidence=0.5, missing_stroke_sharpness=50.0,
                        missing_stroke_confidence=0.7)
TEN = index_of("十")  # two strokes: 横 then 竖


def templates_for(index: int, rows: np.ndarray, dim: int = 3) -> StrokeTemplates:
    """Stroke templates with ``rows`` for class ``index`` and none for the others."""
    offsets = np.zeros(len(CLASSES) + 1, np.int64)
    offsets[index + 1:] = len(rows)
    return StrokeTemplates(np.asarray(rows, np.float32).reshape(-1, dim), offsets)


STROKES = templates_for(TEN, np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))


def name(embedding, verdict=Verdict.INCOMPLETE_OR_UNCLEAR, strokes=STROKES, target=TEN,
         similarity=0.5, thresholds=THRESHOLDS):
    return name_missing_stroke(verdict=verdict, embedding=np.asarray(embedding, np.float32),
                               target_index=target, similarity=similarity, strokes=strokes,
                               thresholds=thresholds)


def test_names_the_stroke_whose_template_the_sample_lies_nearest():
    missing = name([0.0, 0.0, 1.0])
    assert missing is not None and (missing.index, missing.kind) == (1, "竖")
    assert 0.99 < missing.confidence <= 1.0  # softmax(50 * [0, 1])


def test_names_nothing_when_no_single_stroke_explains_the_sample():
    # Equally near both stroke templates: a confidence of 1/2, under the threshold.
    assert name([0.0, 0.5, 0.5]) is None
    guess = guess_missing_stroke(np.array([0.0, 0.5, 0.5], np.float32), TEN, STROKES, THRESHOLDS)
    assert guess is not None and guess.confidence == pytest.approx(0.5)


@pytest.mark.parametrize("verdict", [Verdict.CORRECT, Verdict.WRONG_CHARACTER, Verdict.UNKNOWN,
                                     Verdict.INVALID_TARGET, None])
def test_only_an_incomplete_verdict_names_a_stroke(verdict):
    assert name([0.0, 0.0, 1.0], verdict=verdict) is None


def test_names_nothing_when_the_completeness_gate_passed():
    # The verdict came from the first gate ("is it the target?"): unclear, not a stroke short.
    gated = dataclasses.replace(THRESHOLDS, stroke_weight=1.0, stroke_threshold=0.0)
    embedding = [0.0, 0.0, 1.0]  # stroke margin -1
    assert name(embedding, similarity=1.5, thresholds=gated) is None  # 1.5 - 1 >= 0: complete
    assert name(embedding, similarity=0.5, thresholds=gated).index == 1  # 0.5 - 1 < 0


def test_names_nothing_when_rows_are_not_one_per_stroke():
    # Three rows for a two-stroke character: which row is which stroke is unknown.
    three = templates_for(TEN, np.eye(3))
    assert name([0.0, 0.0, 1.0], strokes=three) is None
    assert name([0.0, 0.0, 1.0], target=None) is None


def test_the_result_dict_carries_the_missing_stroke():
    recognition = Recognition(verdict=Verdict.INCOMPLETE_OR_UNCLEAR,
                              missing_stroke=MissingStroke(2, "点", 0.912345))
    assert recognition.to_dict()["missing_stroke"] == {"index": 2, "kind": "点",
                                                       "confidence": 0.9123}
    assert Recognition().to_dict()["missing_stroke"] is None


def test_manifests_without_the_naming_thresholds_get_the_defaults():
    old = {"accept_similarity": 0.5, "wrong_similarity": 0.1, "unknown_confidence": 0.2,
           "wrong_confidence": 0.2}
    thresholds = Thresholds.from_dict(old)
    assert thresholds.missing_stroke_sharpness == MISSING_STROKE_SHARPNESS
    assert thresholds.missing_stroke_confidence == MISSING_STROKE_CONFIDENCE
    # while the shipped bundle, calibrated since, carries its own pair
    raw = json.loads((SHIPPED_MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert load_manifest(SHIPPED_MODEL_DIR).thresholds.missing_stroke_confidence == (
        raw["thresholds"]["missing_stroke_confidence"])


def test_a_manifest_with_fields_this_code_does_not_know_still_reads():
    # What lets the code before this feature read a manifest that has the naming thresholds:
    # from_dict reads the fields it knows and leaves the rest.
    data = {**THRESHOLDS.to_dict(), "a_later_threshold": 0.5}
    assert Thresholds.from_dict(data) == THRESHOLDS


# -- the shipped bundle, end to end --------------------------------------------------------

# Characters whose every stroke, left out, leaves no other character (王 less a stroke is 土
# or 干): the verdict is then incomplete, and the stroke should be named.
CHARACTERS = "我永国书"


def drawn_from_medians(char: str, omit: int, side: int = 128, width: int = 7) -> np.ndarray:
    """``char`` drawn with a round pen along its medians, stroke ``omit`` left out."""
    from hanzi_grader.models.training.strokes import BOX_SIZE, Y_TOP, StrokeData, StrokeDataMissing

    try:
        medians = StrokeData.load().medians(char)
    except StrokeDataMissing:
        pytest.skip("no stroke data: run hanzi fetch-strokes")
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    for index, median in enumerate(medians):
        if index != omit:
            points = [(x / BOX_SIZE * side, (Y_TOP - y) / BOX_SIZE * side) for x, y in median]
            draw.line(points, fill=0, width=width, joint="curve")
    return np.asarray(image)


def test_verify_json_names_the_stroke_left_out_of_characters_drawn_from_medians(tmp_path):
    rows, expected = ["file,target"], []
    for char in CHARACTERS:
        for k in range(len(stroke_kinds(char))):
            name_ = f"{index_of(char)}-{k}.png"
            Image.fromarray(drawn_from_medians(char, k)).save(tmp_path / name_)
            rows.append(f"{name_},{char}")
            expected.append(k)
    (tmp_path / "targets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = CliRunner().invoke(cli, ["verify", "--targets", str(tmp_path / "targets.csv"),
                                      "--json", "--model", str(SHIPPED_MODEL_DIR)],
                                catch_exceptions=False)

    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    named = [r["missing_stroke"]["index"] if r["missing_stroke"] else None for r in records]
    right = sum(found == k for found, k in zip(named, expected, strict=True))
    wrong = sum(found not in (None, k) for found, k in zip(named, expected, strict=True))
    # Most strokes left out are named, and a named stroke is usually the one left out.
    assert right > len(expected) / 2, list(zip(named, expected, strict=True))
    assert wrong <= 0.2 * (right + wrong), list(zip(named, expected, strict=True))
    # A named stroke comes with its kind and confidence, and only on an incomplete verdict.
    for record in records:
        if record["missing_stroke"] is not None:
            assert record["verdict"] == "incomplete_or_unclear"
            assert record["missing_stroke"]["kind"] in KINDS
            assert 0.0 <= record["missing_stroke"]["confidence"] <= 1.0
