"""The sheets' records in the database: recording one, scoring it once all its cells are stored.

A sheet goes ``grading`` (its cells are in the queue) -> ``done`` (every cell it sent has an
attempt; the score and the characters to practise are set), or straight to ``failed`` when its
scan could not be read. Whoever stores a sheet's last cell finishes it: the worker after each
batch, and the producer after collecting its results; finishing twice changes nothing.

Plain keyword-only functions over a caller's session, like ``hanzi_grader.attempts``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hanzi_grader.attempts import CORRECT, reviewed_verdict_column, with_reviews
from hanzi_grader.schema import DEFAULT_TENANT_ID, Attempt, Sheet, SheetScan, Student

QUEUED = "queued"  # posted to the HTTP API, not yet analysed by a worker
GRADING = "grading"
DONE = "done"
FAILED = "failed"
BLANK = "blank"
PRACTISE_COUNT = 5


def start_sheet(*, session: Session, sheet_id: str, student: str, source: str | None,
                layout: dict[str, Any] | None, cells_sent: int,
                blank_cells: Sequence[Sequence[Any]]) -> None:
    """Record a sheet whose ``cells_sent`` cells are about to go to the queue.

    Grading the same scan again (same sheet id) starts it afresh; its cells keep their job
    ids, so they are not graded twice.
    """
    _upsert(session, {
        "id": sheet_id, "student_id": student, "source": source, "layout": layout,
        "status": GRADING, "error": None, "cells_sent": cells_sent,
        "blank_cells": [list(cell) for cell in blank_cells], "score": None, "practise": None,
        "graded_at": None,
    })


def fail_sheet(*, session: Session, sheet_id: str, student: str, source: str | None,
               layout: dict[str, Any] | None, error: str) -> None:
    """Record a sheet that could not be graded, and why."""
    _upsert(session, {
        "id": sheet_id, "student_id": student, "source": source, "layout": layout,
        "status": FAILED, "error": error, "cells_sent": 0, "blank_cells": [], "score": None,
        "practise": None, "graded_at": datetime.now(UTC),
    })


def finish_sheets(*, session: Session, sheet_ids: Iterable[str]) -> list[str]:
    """Score every sheet among ``sheet_ids`` whose cells are all stored; return those ids."""
    return [sheet_id for sheet_id in sorted(set(sheet_ids))
            if finish_sheet(session=session, sheet_id=sheet_id) is not None]


def finish_sheet(*, session: Session, sheet_id: str) -> Sheet | None:
    """The sheet, scored, once every cell it sent has an attempt; None until then."""
    sheet = _locked(session, sheet_id)
    if sheet is None or sheet.status not in (GRADING, DONE) or sheet.cells_sent is None:
        return None
    if sheet.status == DONE:
        return sheet
    stored = session.scalar(select(func.count()).select_from(Attempt)
                            .where(Attempt.sheet_id == sheet_id))
    if stored < sheet.cells_sent:
        return None
    _score(session, sheet)
    sheet.status = DONE
    sheet.graded_at = datetime.now(UTC)
    return sheet


def rescore_sheet(*, session: Session, sheet_id: str) -> Sheet | None:
    """Score a finished sheet again (one of its cells was reviewed); a sheet still grading is
    left alone: it is scored, with the review, once its last cell arrives."""
    sheet = _locked(session, sheet_id)
    if sheet is None or sheet.status != DONE or sheet.cells_sent is None:
        return None
    _score(session, sheet)
    return sheet


def _locked(session: Session, sheet_id: str) -> Sheet | None:
    # The sheet's row, locked until commit (Postgres; SQLite writes one at a time anyway):
    # two reviews of one sheet's cells, or a review and the last cell arriving, would
    # otherwise each score from a snapshot without the other's change, and the last to
    # commit would keep a stale score. Scoring reads the cells after the lock is held.
    return session.get(Sheet, sheet_id, with_for_update=True, populate_existing=True)


def _score(session: Session, sheet: Sheet) -> None:
    # The reviewed verdict where a teacher gave one, else the machine's.
    cells = session.execute(with_reviews(select(Attempt.target, reviewed_verdict_column()))
                            .where(Attempt.sheet_id == sheet.id)).all()
    blanks = [cell[2] for cell in sheet.blank_cells or [] if len(cell) > 2]
    sheet.score, sheet.practise = score_sheet([(t, v) for t, v in cells], blanks)


def score_sheet(graded: Iterable[tuple[str | None, str | None]],
                blank: Iterable[str | None]) -> tuple[float | None, list[str]]:
    """(score, characters to practise) of a sheet's cells.

    ``graded`` holds (expected, verdict) of every cell that was written, ``blank`` the expected
    character of every cell left empty. The score is the share of cells written correctly,
    blanks counting as misses (None when the sheet asked for nothing); the characters to
    practise are those missed at least once, the most missed first (at most PRACTISE_COUNT).
    """
    graded, blank = list(graded), list(blank)
    total = len(graded) + len(blank)
    if total == 0:
        return None, []
    correct = sum(verdict == CORRECT for _, verdict in graded)
    misses = Counter(expected for expected, verdict in graded
                     if verdict != CORRECT and expected)
    misses.update(expected for expected in blank if expected)
    order = {char: i for i, char in enumerate(dict.fromkeys(
        [e for e, _ in graded if e] + [e for e in blank if e]))}
    practise = sorted(misses, key=lambda char: (-misses[char], order.get(char, 0)))
    return round(correct / total, 4), practise[:PRACTISE_COUNT]


def sheet_tenant(*, session: Session, sheet_id: str) -> int:
    """The id of the tenant the sheet belongs to (the default one for an unknown sheet)."""
    tenant = session.scalar(select(Sheet.tenant_id).where(Sheet.id == sheet_id))
    return tenant if tenant is not None else DEFAULT_TENANT_ID


def queue_sheet(*, session: Session, sheet_id: str, tenant_id: int, student: str,
                source: str | None, layout: dict[str, Any], scan: bytes,
                callback_url: str | None = None, api_key_id: int | None = None) -> bool:
    """Record a sheet posted to the HTTP API, with its scan, before it is sent to a worker;
    False when the same sheet was posted before (its record is kept as it is)."""
    if session.get(Sheet, sheet_id) is not None:
        return False
    _upsert(session, {"id": sheet_id, "tenant_id": tenant_id, "student_id": student,
                      "source": source, "layout": layout, "status": QUEUED,
                      "callback_url": callback_url, "api_key_id": api_key_id})
    session.add(SheetScan(sheet_id=sheet_id, image=scan))
    session.flush()
    return True


def sheet_cells(*, session: Session, sheet: Sheet) -> list[dict[str, Any]]:
    """Every graded cell of the sheet, blanks included, in reading order, as
    `hanzi grade-sheet --json` shows them (row, col, expected, verdict, predicted,
    similarity; a failed cell's error)."""
    cells = []
    for attempt in session.scalars(select(Attempt).where(Attempt.sheet_id == sheet.id)):
        if attempt.cell_row is None or attempt.cell_col is None:
            continue
        cell = {"row": attempt.cell_row, "col": attempt.cell_col, "expected": attempt.target,
                "verdict": attempt.verdict or "unknown", "predicted": attempt.predicted_char,
                "similarity": (None if attempt.similarity is None
                               else round(float(attempt.similarity), 4))}
        if attempt.status != DONE:
            cell |= {"verdict": FAILED, "predicted": None, "similarity": None,
                     "error": f"{attempt.error_type}: {attempt.error}"}
        cells.append(cell)
    cells += [{"row": row, "col": col, "expected": expected, "verdict": BLANK,
               "predicted": None, "similarity": None}
              for row, col, expected in (sheet.blank_cells or [])]
    return sorted(cells, key=lambda cell: (cell["row"], cell["col"]))


def sheet_scan(*, session: Session, sheet_id: str) -> bytes | None:
    scan = session.get(SheetScan, sheet_id)
    return None if scan is None else scan.image


def set_annotated(*, session: Session, sheet_id: str, path: str) -> None:
    """Remember where the sheet's annotated image was written."""
    sheet = session.get(Sheet, sheet_id)
    if sheet is not None:
        sheet.annotated_path = path


def sheet_to_dict(sheet: Sheet) -> dict[str, Any]:
    """A sheet row as JSON-ready data."""
    return {
        "sheet_id": sheet.id,
        "tenant_id": sheet.tenant_id,
        "student": sheet.student_id,
        "source": sheet.source,
        "status": sheet.status,
        "error": sheet.error,
        "score": sheet.score,
        "practise": sheet.practise or [],
        "cells_sent": sheet.cells_sent,
        "blank_cells": sheet.blank_cells or [],
        "annotated_path": sheet.annotated_path,
        "graded_at": sheet.graded_at.isoformat() if sheet.graded_at else None,
    }


def _upsert(session: Session, values: dict[str, Any]) -> None:
    if values.get("student_id"):
        session.execute(_insert(session, Student).values(id=values["student_id"])
                        .on_conflict_do_nothing(index_elements=["id"]))
    statement = _insert(session, Sheet).values(values)
    update = {key: statement.excluded[key] for key in values if key != "id"}
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=update))
    session.expire_all()  # the ORM must read the row as written, not a cached copy


def _insert(session: Session, table: type):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for database dialect {dialect!r}")
