"""A dispatched sheet's verdicts: wait for its cells' jobs and score the sheet.

``collect_sheet`` takes a sheet that ``worker.sheet_dispatch.dispatch_sheet`` sent from this
process; ``collect_uploaded`` takes the answer of the ``hanzi.grade_sheet`` task (a sheet a
worker dispatched). Both wait through ``producer.results`` and score the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hanzi_grader.producer import results
from hanzi_grader.worker.sheet_dispatch import DispatchedSheet

from hanzi_grader import database, sheet_records

BLANK = sheet_records.BLANK
FAILED = "failed"


@dataclass
class CellResult:
    """One cell's outcome: a verdict from the verifier, ``blank``, or ``failed``."""

    row: int
    col: int
    expected: str | None
    verdict: str
    predicted: str | None = None
    similarity: float | None = None
    error: str | None = None
    missing_stroke: dict[str, Any] | None = None  # {"index", "kind", "confidence"}
    job_id: str | None = None  # what `POST /v1/jobs/{job_id}/review` names
    review: dict[str, Any] | None = None  # a teacher's verdict, beside ``verdict``

    @property
    def counted_verdict(self) -> str:
        """The verdict that counts: the teacher's where one reviewed the cell, as in the
        sheet's score."""
        return (self.review or {}).get("verdict") or self.verdict

    def to_dict(self) -> dict[str, Any]:
        data = {"row": self.row, "col": self.col, "expected": self.expected,
                "verdict": self.verdict, "predicted": self.predicted,
                "similarity": self.similarity, "missing_stroke": self.missing_stroke}
        # Only when known: blank cells have no job, and most cells no review.
        data |= {key: value for key, value in
                 (("error", self.error), ("job_id", self.job_id), ("review", self.review))
                 if value is not None}
        return data


@dataclass
class SheetResult:
    """A graded sheet (or one that could not be graded, with ``error``)."""

    source: str
    student: str
    sheet_id: str
    score: float | None = None
    error: str | None = None
    cells: list[CellResult] = field(default_factory=list)
    practise: list[str] = field(default_factory=list)
    annotated: str | None = None

    @property
    def correct(self) -> int:
        return sum(cell.counted_verdict == "correct" for cell in self.cells)

    @property
    def reason(self) -> str:
        """The error without the sheet's name in front (for places that show the name)."""
        error = self.error or ""
        prefix = self.source + ": "
        return error[len(prefix):] if error.startswith(prefix) else error

    def to_dict(self) -> dict[str, Any]:
        """The `hanzi grade-sheet --json` object of this sheet."""
        return {"sheet": self.source, "student": self.student, "score": self.score,
                "error": self.error, "cells": [cell.to_dict() for cell in self.cells],
                "sheet_id": self.sheet_id, "practise": self.practise,
                "annotated": self.annotated}


def collect_sheet(sheet: DispatchedSheet, *, timeout: float = 300.0) -> SheetResult:
    """Wait for a dispatched sheet's cells, score it and mark it done in the database.

    Waiting longer than ``timeout`` seconds makes a sheet with an error, not an exception.
    """
    result = SheetResult(sheet.source, sheet.student, sheet.sheet_id, error=sheet.error)
    if sheet.error is not None or sheet.analysis is None:
        return result
    outcomes, missing = _wait_for(list(sheet.jobs.values()), timeout)
    if missing:
        result.error = (f"{sheet.source}: no result for {len(missing)} of {len(sheet.jobs)} "
                        f"cells after {timeout:g} s; is a worker running?")
        return result
    for cell in sheet.analysis.cells:
        if not cell.spec.graded:
            continue
        if cell.blank:
            result.cells.append(CellResult(cell.spec.row, cell.spec.col, cell.spec.expected,
                                           BLANK))
            continue
        outcome = outcomes[sheet.jobs[cell.spec.row, cell.spec.col]]
        result.cells.append(cell_result(cell.spec.row, cell.spec.col, cell.spec.expected,
                                        outcome))
    _score(result)
    with database.transaction() as session:
        sheet_records.finish_sheet(session=session, sheet_id=sheet.sheet_id)
    return result


def collect_uploaded(accepted: dict[str, Any], *, timeout: float = 300.0) -> SheetResult:
    """The graded sheet from the ``hanzi.grade_sheet`` task's answer (``DispatchedSheet``'s
    dict): waits for its cells' jobs, like ``collect_sheet`` but without the image."""
    result = SheetResult(accepted.get("source") or accepted["sheet_id"], accepted["student"],
                         accepted["sheet_id"], error=accepted.get("error"))
    if result.error is not None:
        return result
    cells = accepted.get("cells", [])
    job_ids = [c["job_id"] for c in cells if c.get("job_id")]
    outcomes, missing = _wait_for(job_ids, timeout)
    if missing:
        result.error = (f"{result.source}: no result for {len(missing)} of {len(job_ids)} "
                        f"cells after {timeout:g} s; is a worker running?")
        return result
    for cell in cells:
        if cell.get("job_id"):
            result.cells.append(cell_result(cell["row"], cell["col"], cell["expected"],
                                            outcomes[cell["job_id"]]))
        else:
            result.cells.append(CellResult(cell["row"], cell["col"], cell["expected"], BLANK))
    _score(result)
    return result


def _score(result: SheetResult) -> None:
    result.score, result.practise = sheet_records.score_sheet(
        [(c.expected, c.verdict) for c in result.cells if c.verdict != BLANK],
        [c.expected for c in result.cells if c.verdict == BLANK],
    )


def cell_result(row: int, col: int, expected: str | None, outcome: dict[str, Any]) -> CellResult:
    """A cell's result from its job's result (the attempt as the worker stored it)."""
    if outcome.get("status") != "done":
        return CellResult(row, col, expected, FAILED,
                          error=f"{outcome.get('error_type')}: {outcome.get('error')}",
                          job_id=outcome.get("job_id"))
    similarity = outcome.get("similarity")
    return CellResult(row, col, expected, outcome.get("verdict") or "unknown",
                      outcome.get("predicted"),
                      None if similarity is None else round(float(similarity), 4),
                      missing_stroke=outcome.get("missing_stroke"),
                      job_id=outcome.get("job_id"), review=outcome.get("review"))


def _wait_for(job_ids: list[str], timeout: float) -> tuple[dict[str, dict], list[str]]:
    deadline = time.monotonic() + timeout
    outcomes: dict[str, dict] = {}
    for job_id in job_ids:
        try:
            outcomes[job_id] = results.result(
                job_id, timeout=max(0.01, deadline - time.monotonic()))
        except results.ResultTimeout:
            break
    return outcomes, [job_id for job_id in job_ids if job_id not in outcomes]
