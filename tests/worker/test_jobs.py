"""Job payload validation: every bad payload is refused with a reason naming what was wrong."""

from __future__ import annotations

import base64

import pytest
from hanzi_grader.worker.jobs import make_payload, parse_job, salvage

from hanzi_grader.errors import InvalidImage, InvalidJob, InvalidTarget
from tests.worker.images import character_png

LIMIT = 10_000


def payload(**changes) -> dict:
    data = make_payload(character_png("永"), job_id="j1", student="s1", target="永", top_n=3,
                        sheet="sheet-1", cell=(2, 3))
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_a_payload_made_by_make_payload_parses_back():
    job = parse_job(payload(), job_id="j1", max_image_bytes=LIMIT)

    assert (job.job_id, job.student, job.target, job.top_n) == ("j1", "s1", "永", 3)
    assert (job.sheet, job.cell) == ("sheet-1", (2, 3))
    assert job.image == character_png("永")
    assert len(job.image_sha256) == 64
    assert job.submitted_at is not None and job.submitted_at.tzinfo is not None


def test_classification_jobs_need_no_target_sheet_or_cell():
    job = parse_job(payload(target=None, sheet=None, cell=None, top_n=...), job_id="j1",
                    max_image_bytes=LIMIT)
    assert (job.target, job.sheet, job.cell, job.top_n) == (None, None, None, 5)


@pytest.mark.parametrize(
    ("bad", "error", "says"),
    [
        ("not a dict", InvalidJob, "must be a JSON object, got str"),
        (None, InvalidJob, "got null"),
        (payload(colour="red"), InvalidJob, "unknown field(s) colour"),
        (payload(job_id="other"), InvalidJob, "'other' differs from the task id"),
        (payload(student=...), InvalidJob, "student must be a non-empty string, got None"),
        (payload(student="x" * 65), InvalidJob, "65 characters long"),
        (payload(image=...), InvalidImage, "image must be a base64 string, got null"),
        (payload(image="%%%"), InvalidImage, "not valid base64"),
        (payload(image=""), InvalidImage, "empty"),
        (payload(image=base64.b64encode(b"x" * (LIMIT + 1)).decode()), InvalidImage,
         "over the limit of 10000 bytes"),
        (payload(target="A"), InvalidTarget, "'A' is not one of the 3755"),
        (payload(target="永永"), InvalidTarget, "'永永'"),
        (payload(top_n=0), InvalidJob, "top_n must be an integer 1..100, got 0"),
        (payload(top_n=True), InvalidJob, "got True"),
        (payload(cell=[1]), InvalidJob, "cell must be [row, column]"),
        (payload(cell=[1, -2]), InvalidJob, "got [1, -2]"),
        (payload(submitted_at="yesterday"), InvalidJob, "'yesterday'"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(bad, error, says):
    with pytest.raises(error) as raised:
        parse_job(bad, job_id="j1", max_image_bytes=LIMIT)
    assert says in str(raised.value)
    assert "j1" in str(raised.value)


def test_an_oversized_image_is_refused_before_decoding():
    huge = "A" * (8 * LIMIT)
    with pytest.raises(InvalidImage, match="about 60000 bytes, over the limit"):
        parse_job(payload(image=huge), job_id="j1", max_image_bytes=LIMIT)


def test_salvage_keeps_who_and_what_from_a_bad_payload():
    facts = salvage(payload(top_n="many"), job_id="j1")
    assert facts["student"] == "s1" and facts["sheet"] == "sheet-1" and facts["target"] == "永"
    assert len(facts["image_sha256"]) == 64
    assert salvage(["junk"], job_id="j2") == {"job_id": "j2"}
