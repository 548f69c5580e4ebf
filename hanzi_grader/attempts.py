"""Reading and writing attempts: the idempotent batch insert and a student's history.

Plain keyword-only functions over a caller's session; the caller owns the transaction, so a
worker's whole batch is one ``with transaction() as session:`` block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, Table, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hanzi_grader.schema import DEFAULT_TENANT_ID, Attempt, Review, Sheet, Student

DONE = "done"
FAILED = "failed"
CORRECT = "correct"
INCOMPLETE = "incomplete_or_unclear"


def record_attempts(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert one attempt per row, skipping job ids already stored; return the ids inserted.

    Each row maps ``Attempt`` column names to values. Students and sheets named by the rows
    are created when new. A re-delivered job finds its job id taken and inserts nothing, so
    the same job never makes two attempts, even when two workers race.
    """
    if not rows:
        return set()
    _ensure_students(session=session, ids={r["student_id"] for r in rows if r.get("student_id")})
    _ensure_sheets(session=session, rows=rows)
    # Core, not the ORM: its bulk-insert bookkeeping doubled the cost of a batch. Executed as
    # executemany, SQLAlchemy sends one multi-row INSERT whose compiled form is cached.
    table = Attempt.__table__
    columns = [c.key for c in table.columns if c.key != "id"]
    # A row that names no tenant is the default tenant's (an explicit NULL would bypass the
    # column's server default).
    values = [{column: r.get(column) for column in columns}
              | {"tenant_id": r.get("tenant_id") or DEFAULT_TENANT_ID} for r in rows]
    statement = insert_ignoring_conflicts(session, table, "job_id").returning(table.c.job_id)
    return set(session.scalars(statement, values))


def attempts_by_job_id(*, session: Session, job_ids: Iterable[str]) -> dict[str, Attempt]:
    """The stored attempts among ``job_ids``, keyed by job id."""
    job_ids = list(job_ids)
    if not job_ids:
        return {}
    found = session.scalars(select(Attempt).where(Attempt.job_id.in_(job_ids)))
    return {attempt.job_id: attempt for attempt in found}


def _ensure_students(*, session: Session, ids: set[str]) -> None:
    if ids:
        statement = insert_ignoring_conflicts(session, Student.__table__, "id")
        session.execute(statement.values([{"id": id_} for id_ in sorted(ids)]))


def _ensure_sheets(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    sheets = {r["sheet_id"]: r.get("student_id") for r in rows if r.get("sheet_id")}
    if sheets:
        statement = insert_ignoring_conflicts(session, Sheet.__table__, "id")
        values = [{"id": id_, "student_id": student} for id_, student in sorted(sheets.items())]
        session.execute(statement.values(values))


def insert_ignoring_conflicts(session: Session, table: Table, column: str) -> Insert:
    # INSERT .. ON CONFLICT (column) DO NOTHING, in the dialect of the session's database.
    return dialect_insert(session, table).on_conflict_do_nothing(index_elements=[column])


def dialect_insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no idempotent insert for database dialect {dialect!r}")


# -- reviewed verdicts --------------------------------------------------------------------


def reviewed_verdict(attempt: Attempt) -> str | None:
    """The verdict that counts: a person's review when there is one, else the machine's."""
    return attempt.review.verdict if attempt.review is not None else attempt.verdict


def reviewed_verdict_column() -> ColumnElement:
    """``reviewed_verdict`` in SQL; the query must outer-join ``Review`` (``with_reviews``)."""
    return func.coalesce(Review.verdict, Attempt.verdict)


def with_reviews(statement: Select) -> Select:
    return statement.outerjoin(Review, Review.job_id == Attempt.job_id)


def review_to_dict(review: Review | None) -> dict[str, Any] | None:
    """A review as JSON-ready data: {"verdict", "note", "reviewer", "at"}, or None."""
    if review is None:
        return None
    return {"verdict": review.verdict, "note": review.note, "reviewer": review.reviewer,
            "at": _iso(review.at)}


# -- history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CharacterStats:
    """How a student does on one target character (graded attempts only)."""

    char: str
    attempts: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "char": self.char,
            "attempts": self.attempts,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
        }


@dataclass(frozen=True)
class MissedStrokes:
    """The strokes of one kind a student left out: how often, and which (character, stroke
    index from 0, times), the most often first."""

    kind: str
    count: int
    strokes: list[tuple[str, int, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count,
                "strokes": [{"char": c, "index": i, "count": n} for c, i, n in self.strokes]}


def missed_strokes(attempts: Iterable[Attempt], per_kind: int = 3) -> list[MissedStrokes]:
    """The strokes the verifier named missing in ``attempts``, per stroke kind, the most
    often missed kind first; ``per_kind`` strokes of each. A stroke counts only while the
    verdict that counts is still incomplete: a teacher who marks the cell correct (or a wrong
    character) has said no stroke was missing."""
    by_kind: dict[str, Counter[tuple[str, int]]] = {}
    for attempt in attempts:
        missing = attempt.missing_stroke
        if attempt.status != DONE or not isinstance(missing, dict) or attempt.target is None:
            continue
        if reviewed_verdict(attempt) != INCOMPLETE:
            continue
        by_kind.setdefault(str(missing.get("kind")), Counter())[
            (attempt.target, int(missing.get("index", -1)))] += 1
    found = [
        MissedStrokes(kind, sum(counts.values()), [
            (char, index, n) for (char, index), n in
            sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:per_kind]
        ])
        for kind, counts in by_kind.items()
    ]
    return sorted(found, key=lambda m: (-m.count, m.kind))


@dataclass(frozen=True)
class History:
    """A student's attempts over time, accuracy per target character, what to practise, and
    the strokes they most often leave out."""

    student: str
    attempts: list[Attempt]
    per_character: list[CharacterStats]
    weakest: list[CharacterStats]
    missed_strokes: list[MissedStrokes] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "attempt_count": len(self.attempts),
            "graded_count": sum(a.status == DONE for a in self.attempts),
            "failed_count": sum(a.status == FAILED for a in self.attempts),
            "attempts": [attempt_to_dict(a) for a in self.attempts],
            "per_character": [s.to_dict() for s in self.per_character],
            "weakest": [s.to_dict() for s in self.weakest],
            "missed_strokes": [m.to_dict() for m in self.missed_strokes],
        }


def student_history(*, session: Session, student: str, weakest_count: int = 5,
                    tenant_id: int | None = None) -> History:
    """Every attempt of ``student`` (oldest first) with per-character accuracy; only the
    tenant's attempts when ``tenant_id`` is given (the HTTP API), else every tenant's.

    Accuracy counts graded attempts with a target: ``correct`` verdicts (reviewed ones where a
    teacher reviewed the attempt) over all of them.
    The weakest characters are the least accurate, the most practised first among equals.
    """
    attempts = list(
        session.scalars(
            select(Attempt)
            .where(Attempt.student_id == student, *_of_tenant(tenant_id))
            .order_by(Attempt.created_at, Attempt.id)
        )
    )
    per_character = character_stats(session=session, student=student, tenant_id=tenant_id)
    weakest = sorted(
        (s for s in per_character if s.correct < s.attempts),
        key=lambda s: (s.accuracy, -s.attempts, s.char),
    )[:weakest_count]
    return History(student, attempts, per_character, weakest, missed_strokes(attempts))


def character_stats(*, session: Session, student: str,
                    tenant_id: int | None = None) -> list[CharacterStats]:
    """Graded attempts and correct (reviewed) verdicts per target character, in order."""
    correct = func.sum(case((reviewed_verdict_column() == CORRECT, 1), else_=0))
    statement = (
        with_reviews(select(Attempt.target, func.count(), correct))
        .where(
            Attempt.student_id == student,
            Attempt.status == DONE,
            Attempt.target.is_not(None),
            *_of_tenant(tenant_id),
        )
        .group_by(Attempt.target)
        .order_by(Attempt.target)
    )
    return [CharacterStats(t, int(n), int(c or 0)) for t, n, c in session.execute(statement)]


def _of_tenant(tenant_id: int | None) -> list:
    return [] if tenant_id is None else [Attempt.tenant_id == tenant_id]


def attempt_to_dict(attempt: Attempt) -> dict[str, Any]:
    """An attempt as JSON-ready data, as `hanzi history --json` and the result backend show it."""
    return {
        "job_id": attempt.job_id,
        "student": attempt.student_id,
        "status": attempt.status,
        "target": attempt.target,
        "predicted": attempt.predicted_char,
        "candidates": attempt.predicted,
        "confidence": attempt.confidence,
        "unknown": attempt.unknown,
        "similarity": attempt.similarity,
        "verdict": attempt.verdict,  # the machine's; "review" holds a person's, if any
        "review": review_to_dict(attempt.review),
        "missing_stroke": attempt.missing_stroke,
        "error": attempt.error,
        "error_type": attempt.error_type,
        "sheet_id": attempt.sheet_id,
        "cell": _cell(attempt),
        "image_sha256": attempt.image_sha256,
        "model_version": attempt.model_version,
        "batch_size": attempt.batch_size,
        "queue_ms": attempt.queue_ms,
        "recognize_ms": attempt.recognize_ms,
        "created_at": _iso(attempt.created_at),
        "processed_at": _iso(attempt.processed_at),
    }


def _cell(attempt: Attempt) -> list[int] | None:
    if attempt.cell_row is None or attempt.cell_col is None:
        return None
    return [attempt.cell_row, attempt.cell_col]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
