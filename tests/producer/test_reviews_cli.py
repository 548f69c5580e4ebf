"""`hanzi reviews`: set a verdict by hand; export reviewed cells as a labelled set."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from hanzi_grader.models.training.labelled import read_labelled
from hanzi_grader.scans.analysis import analyse_sheet
from hanzi_grader.scans.layout import layout_from_dict
from hanzi_grader.scans.paper import Page

from hanzi_grader import attempts, database, reviews, sheet_records
from hanzi_grader.cli import cli
from hanzi_grader.settings import PACKAGE_ROOT, get_settings

SCAN = (PACKAGE_ROOT / "examples" / "sheets" / "li-ming_week3.jpg").read_bytes()
LAYOUT = {"expect": "你好学生", "columns": 6, "model_columns": [0]}


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("HANZI_HOME", str(tmp_path))
    monkeypatch.setenv("HANZI_DATABASE_URL", f"sqlite:///{tmp_path / 'hanzi.db'}")
    get_settings.cache_clear()
    database.upgrade()
    yield
    database.forget_engines()
    get_settings.cache_clear()


def graded_cell_sha256(row: int, col: int) -> str:
    # What the sheet task sent for the cell (worker/sheet_dispatch.py), as the worker hashed it.
    analysis = analyse_sheet(Page.open(SCAN), layout_from_dict(LAYOUT))
    [cell] = [c for c in analysis.cells if (c.spec.row, c.spec.col) == (row, col)]
    return hashlib.sha256(cell.png()).hexdigest()


def attempt(job_id: str, target: str, verdict: str, **cell) -> dict:
    now = datetime.now(UTC)
    return {"job_id": job_id, "student_id": "li", "target": target, "status": "done",
            "verdict": verdict, "created_at": now, "processed_at": now, **cell}


def test_reviewed_cells_of_kept_scans_become_a_labelled_set(db, tmp_path):
    # Given a sheet posted with its scan, two of its cells and a single job reviewed
    with database.transaction() as session:
        sheet_records.queue_sheet(session=session, sheet_id="sh", tenant_id=1, student="li",
                                  source="week3.jpg", scan=SCAN,
                                  layout=layout_from_dict(LAYOUT).to_dict())
        attempts.record_attempts(session=session, rows=[
            attempt("sh-r00c01", "你", "wrong_character", sheet_id="sh", cell_row=0, cell_col=1,
                    image_sha256=graded_cell_sha256(0, 1)),
            attempt("sh-r01c01", "好", "correct", sheet_id="sh", cell_row=1, cell_col=1,
                    image_sha256="0" * 64),
            attempt("solo", "永", "incomplete_or_unclear")])
        for job_id, verdict in [("sh-r00c01", "correct"), ("sh-r01c01", "wrong_character"),
                                ("solo", "correct")]:
            reviews.review_attempt(session=session, job_id=job_id, verdict=verdict,
                                   note=None, reviewer="ms-li")

    # When exported
    out = tmp_path / "reviewed"
    result = CliRunner().invoke(cli, ["reviews", "export", str(out)])

    # Then the set holds the cell the teacher called correct, labelled with its target
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"out_dir": str(out), "reviewed": 3, "images": 2,
                                         "without_image": 1, "labelled": 1}
    [(char, image)] = read_labelled(out / "manifest.csv")
    assert char == "你" and image.read_bytes().startswith(b"\x89PNG")
    # And reviews.csv lists every review, the single job without an image
    with (out / "reviews.csv").open(encoding="utf-8") as f:
        listed = {row["job_id"]: row for row in csv.DictReader(f)}
    assert listed["sh-r01c01"]["machine_verdict"] == "correct"
    assert listed["sh-r01c01"]["teacher_verdict"] == "wrong_character"
    assert listed["sh-r01c01"]["file"] == "images/sh-r01c01.png"
    assert listed["solo"]["file"] == "" and listed["solo"]["reviewer"] == "ms-li"
    # And the re-cut image is checked against the digest of the image that was graded
    assert [listed[j]["same_as_graded"] for j in ("sh-r00c01", "sh-r01c01", "solo")] == [
        "yes", "no", "unknown"]


def test_another_tenants_reviews_are_not_exported(db, tmp_path):
    with database.transaction() as session:
        attempts.record_attempts(session=session, rows=[attempt("j", "永", "correct")])
        reviews.review_attempt(session=session, job_id="j", verdict="correct", note=None,
                               reviewer="ms-li")

    result = CliRunner().invoke(cli, ["reviews", "export", str(tmp_path / "o"),
                                      "--tenant", "acme"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reviewed"] == 0


def test_a_review_can_be_set_from_the_command_line(db):
    with database.transaction() as session:
        attempts.record_attempts(session=session, rows=[attempt("j", "永", "wrong_character")])

    result = CliRunner().invoke(cli, ["reviews", "set", "j", "correct", "--note", "fine",
                                      "--reviewer", "ms-li"])
    assert result.exit_code == 0, result.output
    review = json.loads(result.output)["review"]
    assert (review["verdict"], review["note"], review["reviewer"]) == ("correct", "fine", "ms-li")

    unknown = CliRunner().invoke(cli, ["reviews", "set", "nope", "correct"])
    assert unknown.exit_code != 0 and "no graded result" in unknown.output
