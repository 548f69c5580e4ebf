"""Reviews: stored beside the machine's verdict, and the verdict that counts everywhere."""

from __future__ import annotations

import threading
import time

import pytest

from hanzi_grader import attempts, database, reviews, sheet_records
from hanzi_grader.schema import Attempt, Sheet
from tests.hanzi_grader.test_attempts import row, url  # noqa: F401  (url: SQLite and Postgres)

MISSING = {"index": 2, "kind": "点", "confidence": 0.8}


def review(url: str, job_id: str, verdict: str, **options) -> dict:  # noqa: F811
    with database.transaction(url) as session:
        made = reviews.review_attempt(session=session, job_id=job_id, verdict=verdict,
                                      note=options.get("note"),
                                      reviewer=options.get("reviewer", "ms-li"),
                                      tenant_id=options.get("tenant_id"))
        return reviews.review_to_dict(made)


def test_a_review_sits_beside_the_machines_verdict_and_a_later_one_replaces_it(url):  # noqa: F811
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=[row("j1", verdict="wrong_character")])

    first = review(url, "j1", "correct", note="neat enough")
    assert first["verdict"] == "correct" and first["note"] == "neat enough"
    assert first["reviewer"] == "ms-li" and first["at"]
    review(url, "j1", "incomplete_or_unclear", reviewer="mr-wu")

    with database.transaction(url) as session:
        data = attempts.attempt_to_dict(session.get(Attempt, 1))
    assert data["verdict"] == "wrong_character"  # the machine's, kept
    assert data["review"]["verdict"] == "incomplete_or_unclear"
    assert data["review"]["reviewer"] == "mr-wu" and data["review"]["note"] is None


def test_only_graded_attempts_of_the_tenant_with_known_verdicts_can_be_reviewed(url):  # noqa: F811
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=[row("ok"), row("bad", status="failed")])

    with pytest.raises(reviews.InvalidVerdict, match="correct, wrong_character"):
        review(url, "ok", "great")
    with pytest.raises(reviews.NotGraded):
        review(url, "bad", "correct")
    with pytest.raises(reviews.NotGraded):
        review(url, "never-sent", "correct")
    with pytest.raises(reviews.NotGraded):
        review(url, "ok", "correct", tenant_id=99)  # the default tenant's, not 99's


def test_history_counts_the_reviewed_verdict_and_drops_strokes_a_teacher_overruled(url):  # noqa: F811
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=[
            row("a", target="永", verdict="wrong_character"),
            row("b", target="永", verdict="incomplete_or_unclear", missing_stroke=MISSING),
            row("c", target="水", verdict="incomplete_or_unclear", missing_stroke=MISSING),
        ])
    review(url, "a", "correct")
    review(url, "b", "correct")

    with database.transaction(url) as session:
        history = attempts.student_history(session=session, student="s1").to_dict()
    per_char = {s["char"]: (s["attempts"], s["correct"]) for s in history["per_character"]}
    assert per_char == {"永": (2, 2), "水": (1, 0)}
    assert [w["char"] for w in history["weakest"]] == ["水"]
    [missed] = history["missed_strokes"]
    assert missed["count"] == 1 and missed["strokes"] == [{"char": "水", "index": 2, "count": 1}]


def test_reviewing_a_cell_rescores_its_finished_sheet(url):  # noqa: F811
    with database.transaction(url) as session:
        sheet_records.start_sheet(session=session, sheet_id="sh", student="s1", source=None,
                                  layout=None, cells_sent=2, blank_cells=[])
        attempts.record_attempts(session=session, rows=[
            row("sh-0", target="我", sheet_id="sh", cell_row=0, cell_col=0),
            row("sh-1", target="你", verdict="wrong_character", sheet_id="sh", cell_row=0,
                cell_col=1)])
        sheet_records.finish_sheets(session=session, sheet_ids=["sh"])
    with database.transaction(url) as session:
        sheet = session.get(Sheet, "sh")
        assert (sheet.score, sheet.practise) == (0.5, ["你"])

    review(url, "sh-1", "correct")
    with database.transaction(url) as session:
        sheet = session.get(Sheet, "sh")
        assert (sheet.score, sheet.practise) == (1.0, [])

    review(url, "sh-0", "wrong_character")
    with database.transaction(url) as session:
        sheet = session.get(Sheet, "sh")
        assert (sheet.score, sheet.practise) == (0.5, ["我"])


def test_two_reviews_of_one_sheet_at_once_both_count_in_its_score(empty_postgres_url):
    # Given a finished sheet with two wrong cells, on Postgres (where transactions overlap)
    pg = empty_postgres_url
    database.upgrade(pg)
    with database.transaction(pg) as session:
        sheet_records.start_sheet(session=session, sheet_id="sh", student="s1", source=None,
                                  layout=None, cells_sent=2, blank_cells=[])
        attempts.record_attempts(session=session, rows=[
            row(f"sh-{i}", verdict="wrong_character", sheet_id="sh", cell_row=0, cell_col=i)
            for i in range(2)])
        sheet_records.finish_sheets(session=session, sheet_ids=["sh"])

    # When one review is still uncommitted while the other is made
    second = threading.Thread(target=review, args=(pg, "sh-1", "correct"))
    with database.transaction(pg) as session:
        reviews.review_attempt(session=session, job_id="sh-0", verdict="correct", note=None,
                               reviewer="a")
        second.start()
        time.sleep(0.5)  # the second now waits for the sheet's lock
    second.join(timeout=10)

    # Then the score counts both, whichever committed last
    with database.transaction(pg) as session:
        assert session.get(Sheet, "sh").score == 1.0
    database.forget_engines()
