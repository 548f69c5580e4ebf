"""A sheet into the queue: read the scan, record the sheet, send one job per written cell.

``dispatch_sheet`` reads the scan (``scans``), finds the grid, records the sheet in the
database and sends one ordinary grading job per written cell (the same queue and batching as
every other job). The worker's sheet task calls it for an uploaded scan, ``hanzi grade-sheet``
for a scan on disk; ``producer.sheets.collect`` then waits for the cells' verdicts. The worker
that stores a sheet's last cell finishes the sheet in the database.

Cell job ids derive from the sheet id, and the sheet id from the scan's bytes, the student and
the layout, so grading the same scan again grades nothing twice. Never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.scans.analysis import LayoutMismatch, SheetAnalysis, analyse_sheet
from hanzi_grader.scans.grid import GridNotFound
from hanzi_grader.scans.layout import Layout
from hanzi_grader.scans.paper import Page
from hanzi_grader.worker.jobs import make_payload
from hanzi_grader.worker.sending import send_jobs

from hanzi_grader import database, sheet_records
from hanzi_grader.errors import InvalidImage, InvalidJob
from hanzi_grader.schema import DEFAULT_TENANT_ID
from hanzi_grader.settings import get_settings

SHEET_ID_MAX = 56  # a cell's job id adds 7 characters and must fit the 64 of the id columns


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
            sheet_records.fail_sheet(session=session, sheet_id=sheet_id, student=student,
                                  source=source, layout=layout.to_dict(), error=sheet.error)
        return sheet
    _send_cells(sheet)
    return sheet


def _send_cells(sheet: DispatchedSheet) -> None:
    analysis = sheet.analysis
    cells = analysis.to_grade
    blanks = [[c.spec.row, c.spec.col, c.spec.expected] for c in analysis.blank]
    sheet.jobs = {(c.spec.row, c.spec.col): cell_job_id(sheet.sheet_id, c.spec.row, c.spec.col)
                  for c in cells}
    # Recorded before the cells are sent: the worker finishes the sheet with its last cell.
    with database.transaction() as session:
        sheet_records.start_sheet(session=session, sheet_id=sheet.sheet_id, student=sheet.student,
                               source=sheet.source, layout=sheet.layout.to_dict(),
                               cells_sent=len(cells), blank_cells=blanks)
        if not cells:
            sheet_records.finish_sheet(session=session, sheet_id=sheet.sheet_id)
        # The cells are the sheet's tenant's (the HTTP API records the sheet before it is sent).
        tenant = sheet_records.sheet_tenant(session=session, sheet_id=sheet.sheet_id)
    if cells:
        send_jobs(make_payload(cell.png(), job_id=sheet.jobs[cell.spec.row, cell.spec.col],
                               student=sheet.student, target=cell.spec.expected,
                               sheet=sheet.sheet_id, cell=(cell.spec.row, cell.spec.col),
                               tenant=None if tenant == DEFAULT_TENANT_ID else tenant)
                  for cell in cells)


def _image_bytes(image: bytes | Path | str | np.ndarray) -> bytes:
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image).tobytes()
    try:
        return Path(image).read_bytes()
    except OSError as error:
        raise InvalidImage(f"cannot read sheet {str(image)!r}: {error.strerror}") from None
