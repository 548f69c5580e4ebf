"""The idempotent batch insert and the history queries, on SQLite and on Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hanzi_grader import attempts, database
from hanzi_grader.schema import Attempt, Sheet, Student
from tests.hanzi_grader.databases import throwaway_postgres_database

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def row(job_id: str, *, student="s1", target="永", verdict="correct", status="done", minute=0,
        **extra) -> dict:
    moment = T0 + timedelta(minutes=minute)
    return {
        "job_id": job_id,
        "student_id": student,
        "target": target,
        "status": status,
        "verdict": verdict if status == "done" else None,
        "predicted_char": target if verdict == "correct" else "水",
        "predicted": [{"char": target, "confidence": 0.9}],
        "created_at": moment,
        "processed_at": moment + timedelta(seconds=1),
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hanzi.db'}"
        database.upgrade(url)
        yield url
        database.forget_engines()
    else:
        for url in throwaway_postgres_database():
            database.upgrade(url)
            yield url


def test_a_redelivered_job_id_inserts_nothing(url):
    with database.transaction(url) as session:
        first = attempts.record_attempts(session=session, rows=[row("a"), row("b")])
    with database.transaction(url) as session:
        second = attempts.record_attempts(session=session, rows=[row("b"), row("c")])
    with database.transaction(url) as session:
        stored = session.query(Attempt).count()

    assert first == {"a", "b"}
    assert second == {"c"}
    assert stored == 3


def test_students_and_sheets_are_created_once(url):
    rows = [row("a", sheet_id="sheet-1", cell_row=0, cell_col=1),
            row("b", sheet_id="sheet-1", cell_row=0, cell_col=2)]
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=rows)
        attempts.record_attempts(session=session, rows=[row("c", sheet_id="sheet-1")])
    with database.transaction(url) as session:
        assert [s.id for s in session.query(Student)] == ["s1"]
        assert [(s.id, s.student_id) for s in session.query(Sheet)] == [("sheet-1", "s1")]
        cells = {a.job_id: attempts.attempt_to_dict(a)["cell"] for a in session.query(Attempt)}
    assert cells == {"a": [0, 1], "b": [0, 2], "c": None}


def test_a_failing_batch_leaves_no_partial_rows(url):
    bad = row("b")
    del bad["status"]  # NOT NULL: the whole batch must roll back
    with pytest.raises(Exception), database.transaction(url) as session:  # noqa: B017
        attempts.record_attempts(session=session, rows=[row("a"), bad])
    with database.transaction(url) as session:
        assert session.query(Attempt).count() == 0


def test_history_counts_accuracy_per_character_and_names_the_weakest(url):
    rows = [
        row("1", target="永", verdict="correct", minute=1),
        row("2", target="永", verdict="wrong_character", minute=2),
        row("3", target="水", verdict="incomplete_or_unclear", minute=3),
        row("4", target="水", verdict="incomplete_or_unclear", minute=4),
        row("5", target="人", verdict="correct", minute=5),
        row("6", target="人", status="failed", minute=6, error="no ink", error_type="InvalidImage"),
        row("7", target=None, verdict=None, minute=7),  # classification only: no accuracy
        row("8", student="someone-else", target="永", verdict="wrong_character"),
    ]
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=rows)
    with database.transaction(url) as session:
        history = attempts.student_history(session=session, student="s1").to_dict()

    assert history["attempt_count"] == 7
    assert history["failed_count"] == 1
    assert [a["job_id"] for a in history["attempts"]] == ["1", "2", "3", "4", "5", "6", "7"]
    stats = {s["char"]: (s["attempts"], s["correct"]) for s in history["per_character"]}
    assert stats == {"永": (2, 1), "水": (2, 0), "人": (1, 1)}
    assert [s["char"] for s in history["weakest"]] == ["水", "永"]


def test_history_names_the_strokes_left_out_most_per_kind(url):
    def missing(index: int, kind: str) -> dict:
        return {"index": index, "kind": kind, "confidence": 0.9}

    incomplete = "incomplete_or_unclear"
    rows = [
        row("1", target="永", verdict=incomplete, missing_stroke=missing(0, "点"), minute=1),
        row("2", target="永", verdict=incomplete, missing_stroke=missing(0, "点"), minute=2),
        row("3", target="心", verdict=incomplete, missing_stroke=missing(2, "点"), minute=3),
        row("4", target="十", verdict=incomplete, missing_stroke=missing(1, "竖"), minute=4),
        row("5", target="十", verdict=incomplete, minute=5),  # unclear: no stroke named
        row("6", target="十", verdict="correct", minute=6),
        row("7", student="someone-else", target="十", verdict=incomplete,
            missing_stroke=missing(1, "竖")),
    ]
    with database.transaction(url) as session:
        attempts.record_attempts(session=session, rows=rows)
    with database.transaction(url) as session:
        history = attempts.student_history(session=session, student="s1").to_dict()

    # The stored stroke comes back with each attempt, as the job's result carries it
    assert history["attempts"][0]["missing_stroke"] == missing(0, "点")
    assert history["attempts"][4]["missing_stroke"] is None
    # And the strokes left out, the most often missed kind first
    assert history["missed_strokes"] == [
        {"kind": "点", "count": 3, "strokes": [{"char": "永", "index": 0, "count": 2},
                                               {"char": "心", "index": 2, "count": 1}]},
        {"kind": "竖", "count": 1, "strokes": [{"char": "十", "index": 1, "count": 1}]},
    ]
