"""Sheets through the API: accept a scan for a tenant, read back its grading, draw its page.

Plain functions over the database, called by ``api.routes.sheets`` in a thread. The scan is
analysed and its cells graded by the workers (``hanzi.grade_sheet``); the web process only
records the sheet and, when asked, draws the annotated page from the stored scan.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from hanzi_grader.api.problems import Problem
from hanzi_grader.producer import client
from hanzi_grader.producer.sheets.collect import BLANK, CellResult, SheetResult, cell_result
from hanzi_grader.scans.layout import Layout
from hanzi_grader.worker.sheet_dispatch import new_sheet_id
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hanzi_grader import attempts, database, sheet_records, webhooks
from hanzi_grader.errors import InvalidImage, InvalidJob
from hanzi_grader.schema import Attempt, Sheet
from hanzi_grader.settings import get_settings


@dataclass(frozen=True)
class SheetView:
    """A tenant's sheet as read back: the `hanzi grade-sheet --json` object, and its state."""

    status: str
    result: SheetResult


def accept_sheet(image: bytes, *, student: str, layout: Layout, tenant_id: int,
                 source: str | None, callback_url: str | None = None,
                 api_key_id: int | None = None) -> tuple[str, str]:
    """Record and queue a sheet scan; (sheet id, status). The same scan, student and layout
    from the same tenant is the same sheet: posting it again sends nothing new."""
    limit = get_settings().max_image_bytes
    if len(image) > limit:
        raise Problem(413, f"image is {len(image)} bytes, over the limit of {limit} bytes")
    if not image:
        raise InvalidImage("image is empty (0 bytes)")
    client.check_job(student=student, target=None, top_n=1, job_id=None)
    if callback_url is not None:
        refusal = webhooks.callback_refusal(callback_url, get_settings().api_callback_hosts)
        if refusal is not None:
            raise InvalidJob(refusal)
    # The tenant is part of the id: two platforms posting the same scan get two sheets.
    sheet_id = new_sheet_id(image, student=f"{tenant_id}:{student}", layout=layout)
    with database.transaction() as session:
        new = sheet_records.queue_sheet(session=session, sheet_id=sheet_id, tenant_id=tenant_id,
                                        student=student, source=source,
                                        layout=layout.to_dict(), scan=image,
                                        callback_url=callback_url, api_key_id=api_key_id)
        status = session.get(Sheet, sheet_id).status or sheet_records.QUEUED
    if new or status == sheet_records.QUEUED:  # a lost first send is sent again
        client.submit_sheet(image, student=student, layout=layout, sheet_id=sheet_id,
                            source=source or sheet_id, keep_result=False)
    return sheet_id, status


def read_sheet(sheet_id: str, *, tenant_id: int) -> SheetView:
    """The tenant's sheet with every cell graded so far; Problem 404 for another's."""
    with database.transaction() as session:
        sheet = _tenant_sheet(session, sheet_id, tenant_id)
        cells = session.scalars(attempts_of(sheet_id, tenant_id)).all()
        result = SheetResult(sheet.source or sheet_id, sheet.student_id or "", sheet_id,
                             score=sheet.score, error=sheet.error,
                             practise=list(sheet.practise or []))
        graded = [cell_result(a.cell_row, a.cell_col, a.target, attempts.attempt_to_dict(a))
                  for a in cells if a.cell_row is not None and a.cell_col is not None]
        blanks = [CellResult(row, col, expected, BLANK)
                  for row, col, expected in (sheet.blank_cells or [])]
        result.cells = sorted(graded + blanks, key=lambda c: (c.row, c.col))
        return SheetView(sheet.status or sheet_records.QUEUED, result)


def annotated_png(sheet_id: str, *, tenant_id: int) -> bytes:
    """The sheet's page with each cell outlined in its verdict's colour, as PNG."""
    import numpy as np
    from hanzi_grader.producer.sheets.annotate import annotate
    from hanzi_grader.scans.analysis import LayoutMismatch, analyse_sheet
    from hanzi_grader.scans.grid import GridNotFound
    from hanzi_grader.scans.layout import layout_from_dict
    from hanzi_grader.scans.paper import Page

    view = read_sheet(sheet_id, tenant_id=tenant_id)
    if view.status not in (sheet_records.DONE, sheet_records.FAILED):
        raise Problem(409, f"sheet {sheet_id!r} is {view.status}: its page is drawn once it "
                           f"is graded")
    with database.transaction() as session:
        scan = sheet_records.sheet_scan(session=session, sheet_id=sheet_id)
        layout = session.get(Sheet, sheet_id).layout
    if scan is None:
        raise Problem(404, f"sheet {sheet_id!r} was not posted to the API: no scan is kept")
    try:
        page = Page.open(scan, name=view.result.source)
        analysis = analyse_sheet(page, layout_from_dict(layout)) if layout else None
        rgb = page.rgb
    except InvalidImage:
        analysis, rgb = None, np.full((240, 640, 3), 255, np.uint8)  # the header alone
    except (GridNotFound, LayoutMismatch):
        analysis, rgb = None, page.rgb
    buffer = io.BytesIO()
    annotate(rgb, analysis, view.result).save(buffer, format="PNG")
    return buffer.getvalue()


def attempts_of(sheet_id: str, tenant_id: int) -> Select:
    return select(Attempt).where(Attempt.sheet_id == sheet_id, Attempt.tenant_id == tenant_id)


def _tenant_sheet(session: Session, sheet_id: str, tenant_id: int) -> Sheet:
    sheet = session.get(Sheet, sheet_id)
    if sheet is None or sheet.tenant_id != tenant_id:
        raise Problem(404, f"no sheet {sheet_id!r}")
    return sheet
