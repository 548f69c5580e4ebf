"""grade(): a list of jobs, one model call, one outcome per job, bad jobs failing alone."""

from __future__ import annotations

import hashlib

import pytest
from hanzi_grader.models.results import Candidate, MissingStroke, Recognition, Verdict
from hanzi_grader.worker.grading import grade
from hanzi_grader.worker.jobs import make_payload

from tests.worker.conftest import StubRecognizer
from tests.worker.images import character_png

LIMIT = 100_000


def job(job_id: str, image: bytes | None = None, **options) -> tuple[str, dict]:
    image = character_png("永") if image is None else image
    return job_id, make_payload(image, job_id=job_id, student="s1", **options)


def test_one_model_call_for_the_batch_and_outcomes_in_order(stub_recognizer):
    items = [job("a", target="永"), job("b", target="水"), job("c")]

    outcomes = grade(items, recognizer=stub_recognizer, max_image_bytes=LIMIT, worker="w1")

    assert len(stub_recognizer.calls) == 1
    assert stub_recognizer.calls[0]["targets"] == ["永", "水", None]
    assert [o.job_id for o in outcomes] == ["a", "b", "c"]
    assert [o.row["verdict"] for o in outcomes] == ["correct", "wrong_character", None]
    row = outcomes[0].row
    assert row["status"] == "done" and row["predicted_char"] == "永"
    assert row["predicted"][0] == {"char": "永", "confidence": 0.7}
    assert row["image_sha256"] == hashlib.sha256(character_png("永")).hexdigest()
    assert row["batch_size"] == 3 and row["model_version"] == "stub-1" and row["worker"] == "w1"
    assert row["recognize_ms"] >= 0 and row["queue_ms"] >= 0
    assert row["processed_at"] >= row["created_at"]


def test_top_n_is_kept_per_job(stub_recognizer):
    outcomes = grade([job("a", top_n=1), job("b", top_n=3)], recognizer=stub_recognizer,
                     max_image_bytes=LIMIT)
    assert stub_recognizer.calls[0]["top_n"] == 3
    assert [len(o.row["predicted"]) for o in outcomes] == [1, 3]


def test_bad_jobs_fail_alone_and_never_reach_the_model(stub_recognizer):
    items = [job("good"), ("malformed", {"student": "s1"}), job("huge", b"x" * (LIMIT + 1)),
             job("garbage", b"not an image"), job("good2")]

    outcomes = {o.job_id: o for o in grade(items, recognizer=stub_recognizer,
                                           max_image_bytes=LIMIT)}

    assert outcomes["good"].row["status"] == outcomes["good2"].row["status"] == "done"
    assert outcomes["malformed"].row["error_type"] == "InvalidImage"
    assert outcomes["malformed"].row["student_id"] == "s1"
    assert "over the limit" in outcomes["huge"].row["error"]
    assert outcomes["garbage"].row["error_type"] == "InvalidImage"
    assert all(outcomes[j].failed for j in ("malformed", "huge", "garbage"))
    assert len(stub_recognizer.calls[0]["images"]) == 3  # good, garbage, good2


def test_an_image_that_breaks_the_model_is_isolated():
    poison = character_png("水")
    recognizer = StubRecognizer(fail_on=poison)

    outcomes = grade([job("a"), job("poison", poison), job("b")], recognizer=recognizer,
                     max_image_bytes=LIMIT)

    assert [o.row["status"] for o in outcomes] == ["done", "failed", "done"]
    assert outcomes[1].row["error_type"] == "RuntimeError"
    assert "the model choked" in outcomes[1].row["error"]


def test_a_target_without_template_is_a_failed_attempt():
    class NoTemplates(StubRecognizer):
        @staticmethod
        def _one(image, target, top_n):
            return Recognition(target=target, verdict=Verdict.INVALID_TARGET)

    [outcome] = grade([job("a", target="永")], recognizer=NoTemplates(), max_image_bytes=LIMIT)
    assert outcome.failed and outcome.row["error_type"] == "InvalidTarget"
    assert "no template for target '永'" in outcome.row["error"]


def test_the_result_has_the_history_shape(stub_recognizer):
    [outcome] = grade([job("a", target="永", sheet="sh", cell=(1, 2))],
                      recognizer=stub_recognizer, max_image_bytes=LIMIT)
    result = outcome.result()
    assert result["job_id"] == "a" and result["predicted"] == "永" and result["cell"] == [1, 2]
    assert result["verdict"] == "correct" and result["created_at"].startswith("20")


def test_a_named_missing_stroke_is_stored_and_in_the_result():
    class Incomplete(StubRecognizer):
        @staticmethod
        def _one(image, target, top_n):
            return Recognition(candidates=[Candidate(target, 0.6)], target=target,
                               verdict=Verdict.INCOMPLETE_OR_UNCLEAR, similarity=0.4,
                               missing_stroke=MissingStroke(2, "点", 0.91))

    [outcome] = grade([job("a", target="永")], recognizer=Incomplete(), max_image_bytes=LIMIT)

    named = {"index": 2, "kind": "点", "confidence": 0.91}
    assert outcome.row["missing_stroke"] == named
    assert outcome.result()["missing_stroke"] == named


def test_no_stroke_named_is_null_in_the_result(stub_recognizer):
    [outcome] = grade([job("a", target="永")], recognizer=stub_recognizer, max_image_bytes=LIMIT)
    assert outcome.result()["missing_stroke"] is None


def test_the_real_recognizer_grades_a_batch(request):
    # Given the real engine on the tiny untrained bundle (tests/conftest.py provides it)
    try:
        bundle = request.getfixturevalue("tiny_bundle")
    except pytest.FixtureLookupError:
        pytest.skip("needs the tiny_bundle fixture")
    from hanzi_grader.models.recognizer import Recognizer

    recognizer = Recognizer.load(bundle)
    items = [job("a", target="永"), job("b"), job("c", b"not an image")]

    outcomes = grade(items, recognizer=recognizer, max_image_bytes=LIMIT)

    assert [o.row["status"] for o in outcomes] == ["done", "done", "failed"]
    assert len(outcomes[1].row["predicted"]) == 5
    assert outcomes[0].row["verdict"] in {v.value for v in Verdict}
    assert outcomes[0].row["model_version"]
    assert outcomes[2].row["error_type"] == "InvalidImage"
