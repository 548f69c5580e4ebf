"""A sheet through the queue: analyse it, record it, send its cells, collect their verdicts.

``dispatch_sheet`` reads the scan, finds the grid, records the sheet in the database and sends
one ordinary grading job per written cell (the same queue and batching as every other job).
``collect_sheet`` waits for those jobs' results and scores the sheet. Between the two the
worker stores the cells' attempts and, with the last one, finishes the sheet in the database.

Cell job ids derive from the sheet id, and the sheet id from the scan's bytes, the student and
the layout, so grading the same scan again grades nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hanzi_grader import database
from hanzi_grader import sheets as sheet_rows
from hanzi_grader.errors import InvalidImage, InvalidJob
from hanzi_grader.settings import get_settings
from producer.sheets.analysis import LayoutMismatch, SheetAnalysis, analyse_sheet
from producer.sheets.grid import GridNotFound
from producer.sheets.layout import Layout
from producer.sheets.paper import Page

SHEET_ID_MAX = 56  # a cell's job id adds 7 characters and must fit the 64 of the id columns
BLANK = sheet_rows.BLANK
FAILED = "failed"


@dataclass
class DispatchedSheet:
    """A sheet whose cells are in the queue, or that failed before any could be."""

    sheet_id: str
    student: str
    source: str
    layout: Layout
    analysis: SheetAnalysis | None = None
    error: str | None = None
    jobs: dict[tuple[int, int], str] = field(default_factory=dict)  # cell -> job id

    def to_dict(self) -> dict[str, Any]:
        """What the ``hanzi.grade_sheet`` task answers: the sheet's cells and their job ids."""
        cells = []
        if self.analysis is not None:
            for cell in self.analysis.cells:
                if not cell.spec.graded:
                    continue
                position = (cell.spec.row, cell.spec.col)
                cells.append({"row": cell.spec.row, "col": cell.spec.col,
                              "expected": cell.spec.expected, "job_id": self.jobs.get(position),
                              "blank": cell.blank})
        return {"sheet_id": self.sheet_id, "student": self.student, "source": self.source,
                "layout": self.layout.to_dict(), "error": self.error, "cells": cells}


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

    def to_dict(self) -> dict[str, Any]:
        data = {"row": self.row, "col": self.col, "expected": self.expected,
                "verdict": self.verdict, "predicted": self.predicted,
                "similarity": self.similarity}
        if self.error is not None:
            data["error"] = self.error
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
        return sum(cell.verdict == "correct" for cell in self.cells)

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


def new_sheet_id(image: bytes, *, student: str, layout: Layout) -> str:
    """The sheet id of a scan: the same scan, student and layout always give the same id."""
    digest = hashlib.sha256()
    for part in (student.encode(), json.dumps(layout.to_dict(), sort_keys=True).encode(), image):
        digest.update(len(part).to_bytes(8, "big") + part)
    return f"sheet-{digest.hexdigest()[:20]}"


def cell_job_id(sheet_id: str, row: int, col: int) -> str:
    return f"{sheet_id}-r{row:02d}c{col:02d}"


def dispatch_sheet(
    image: bytes | Path | str | np.ndarray,
    *,
    student: str,
    layout: Layout,
    source: str | None = None,
    sheet_id: str | None = None,
) -> DispatchedSheet:
    """Analyse a scan, record the sheet, and queue its written cells for grading.

    A scan that cannot be read, has no grid, or has a grid of another shape than ``layout``
    is recorded as a failed sheet; the returned sheet's ``error`` says why. Database and
    broker errors are raised: they concern every sheet, not this one.
    """
    source = source or (str(image) if isinstance(image, str | Path) else "upload")
    try:
        data = _image_bytes(image)
    except InvalidImage as error:
        data, unreadable = source.encode(), error
    else:
        unreadable = None
    sheet_id = sheet_id or new_sheet_id(data, student=student, layout=layout)
    if len(sheet_id) > SHEET_ID_MAX:
        raise InvalidJob(f"sheet id {sheet_id!r} is {len(sheet_id)} characters long, over "
                         f"{SHEET_ID_MAX}")
    sheet = DispatchedSheet(sheet_id, student, source, layout)
    try:
        if unreadable is not None:
            raise unreadable
        page = Page.open(image if isinstance(image, np.ndarray) else data, name=source,
                         max_pixels=get_settings().max_image_pixels)
        sheet.analysis = analyse_sheet(page, layout)
    except (InvalidImage, GridNotFound, LayoutMismatch) as error:
        message = str(error)
        sheet.error = message if message.startswith(source) else f"{source}: {message}"
        with database.transaction() as session:
            sheet_rows.fail_sheet(session=session, sheet_id=sheet_id, student=student,
                                  source=source, layout=layout.to_dict(), error=sheet.error)
        return sheet
    _send_cells(sheet)
    return sheet


def _send_cells(sheet: DispatchedSheet) -> None:
    from producer import client

    analysis = sheet.analysis
    cells = analysis.to_grade
    blanks = [[c.spec.row, c.spec.col, c.spec.expected] for c in analysis.blank]
    sheet.jobs = {(c.spec.row, c.spec.col): cell_job_id(sheet.sheet_id, c.spec.row, c.spec.col)
                  for c in cells}
    # Recorded before the cells are sent: the worker finishes the sheet with its last cell.
    with database.transaction() as session:
        sheet_rows.start_sheet(session=session, sheet_id=sheet.sheet_id, student=sheet.student,
                               source=sheet.source, layout=sheet.layout.to_dict(),
                               cells_sent=len(cells), blank_cells=blanks)
        if not cells:
            sheet_rows.finish_sheet(session=session, sheet_id=sheet.sheet_id)
    if cells:
        client.submit_many(
            [cell.png() for cell in cells], student=sheet.student, sheet=sheet.sheet_id,
            job_ids=[sheet.jobs[c.spec.row, c.spec.col] for c in cells],
            cells=[(c.spec.row, c.spec.col) for c in cells],
            targets=[c.spec.expected for c in cells],
        )


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
        sheet_rows.finish_sheet(session=session, sheet_id=sheet.sheet_id)
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
    result.score, result.practise = sheet_rows.score_sheet(
        [(c.expected, c.verdict) for c in result.cells if c.verdict != BLANK],
        [c.expected for c in result.cells if c.verdict == BLANK],
    )


def cell_result(row: int, col: int, expected: str | None, outcome: dict[str, Any]) -> CellResult:
    """A cell's result from its job's result (the attempt as the worker stored it)."""
    if outcome.get("status") != "done":
        return CellResult(row, col, expected, FAILED,
                          error=f"{outcome.get('error_type')}: {outcome.get('error')}")
    similarity = outcome.get("similarity")
    return CellResult(row, col, expected, outcome.get("verdict") or "unknown",
                      outcome.get("predicted"),
                      None if similarity is None else round(float(similarity), 4))


def _wait_for(job_ids: list[str], timeout: float) -> tuple[dict[str, dict], list[str]]:
    from producer import client

    deadline = time.monotonic() + timeout
    outcomes: dict[str, dict] = {}
    for job_id in job_ids:
        try:
            outcomes[job_id] = client.result(job_id, timeout=max(0.01, deadline - time.monotonic()))
        except client.ResultTimeout:
            break
    return outcomes, [job_id for job_id in job_ids if job_id not in outcomes]


def _image_bytes(image: bytes | Path | str | np.ndarray) -> bytes:
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image).tobytes()
    try:
        return Path(image).read_bytes()
    except OSError as error:
        raise InvalidImage(f"cannot read sheet {str(image)!r}: {error.strerror}") from None
