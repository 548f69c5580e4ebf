"""Sheets through the API: accept a scan for a tenant, read back its grading, draw its page.

Plain functions over the database, called by ``api.routes.sheets`` in a thread. The scan is
analysed and its cells graded by the workers (``hanzi.grade_sheet``); the web process only
records the sheet and, when asked, draws the annotated page from the stored scan.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hanzi_grader.api.problems import Problem
from hanzi_grader.producer import client
from hanzi_grader.producer.sheets.collect import BLANK, CellResult, SheetResult, cell_result
from hanzi_grader.scans.layout import Layout, LayoutError, layout_from_dict, layout_from_expect
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


def layout_json(text: str | None) -> dict[str, Any] | None:
    """A form's ``layout`` field (the layout's settings as JSON) read; None when empty."""
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError as error:
        raise Problem(422, f"layout is not JSON: {error}") from None


def sheet_layout(expect: str | None, layout: Any) -> Layout:
    """The layout a sheet is posted with: ``expect`` (a character per row) or ``layout`` (a
    layout file's settings), exactly one; InvalidJob (422) saying what is wrong."""
    if (expect is None) == (layout is None):
        raise InvalidJob("give exactly one of expect (a character per row) and layout")
    try:
        if expect is not None:
            return layout_from_expect(expect)
        return layout_from_dict(layout, where="layout")
    except LayoutError as error:
        raise InvalidJob(str(error)) from None


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
        return _view(sheet, cells)


def tenant_sheets(*, tenant_id: int, limit: int = 200) -> list[SheetView]:
    """The tenant's latest ``limit`` sheets, newest first, each with its cells (one query for
    the cells of them all)."""
    with database.transaction() as session:
        found = session.scalars(select(Sheet).where(Sheet.tenant_id == tenant_id)
                                .order_by(Sheet.created_at.desc(), Sheet.id).limit(limit)).all()
        cells: dict[str, list[Attempt]] = {sheet.id: [] for sheet in found}
        if cells:
            for attempt in session.scalars(select(Attempt).where(
                    Attempt.sheet_id.in_(cells), Attempt.tenant_id == tenant_id)):
                cells[attempt.sheet_id].append(attempt)
        return [_view(sheet, cells[sheet.id]) for sheet in found]


def _view(sheet: Sheet, cells: Sequence[Attempt]) -> SheetView:
    result = SheetResult(sheet.source or sheet.id, sheet.student_id or "", sheet.id,
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
    scan, layout = _kept_scan(sheet_id)
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


def cell_png(sheet_id: str, row: int, col: int, *, tenant_id: int) -> bytes:
    """The image of one written cell of the tenant's sheet, cut again from the kept scan as the
    sheet task cut it; Problem 404 for another's sheet or a cell with no image."""
    with database.transaction() as session:
        _tenant_sheet(session, sheet_id, tenant_id)
    png = _cell_pngs(sheet_id).get((row, col))
    if png is None:
        raise Problem(404, f"sheet {sheet_id!r} has no cell image at row {row}, column {col}")
    return png


@lru_cache(maxsize=8)
def _cell_pngs(sheet_id: str) -> dict[tuple[int, int], bytes]:
    # A sheet's id is a digest of its scan and layout, which never change: its cells can be
    # cut once and kept. A page of reviews asks for every cell of one sheet at once.
    from hanzi_grader.scans.analysis import LayoutMismatch, analyse_sheet
    from hanzi_grader.scans.grid import GridNotFound
    from hanzi_grader.scans.layout import layout_from_dict
    from hanzi_grader.scans.paper import Page

    scan, layout = _kept_scan(sheet_id)
    if not layout:
        return {}
    try:
        analysis = analyse_sheet(Page.open(scan, name=sheet_id), layout_from_dict(layout))
    except (InvalidImage, GridNotFound, LayoutMismatch):
        return {}
    return {(c.spec.row, c.spec.col): c.png() for c in analysis.cells
            if c.spec.graded and not c.blank}


def _kept_scan(sheet_id: str) -> tuple[bytes, dict[str, Any] | None]:
    with database.transaction() as session:
        scan = sheet_records.sheet_scan(session=session, sheet_id=sheet_id)
        layout = session.get(Sheet, sheet_id).layout
    if scan is None:
        raise Problem(404, f"sheet {sheet_id!r} was not posted to the API: no scan is kept")
    return scan, layout


def attempts_of(sheet_id: str, tenant_id: int) -> Select:
    return select(Attempt).where(Attempt.sheet_id == sheet_id, Attempt.tenant_id == tenant_id)


def _tenant_sheet(session: Session, sheet_id: str, tenant_id: int) -> Sheet:
    sheet = session.get(Sheet, sheet_id)
    if sheet is None or sheet.tenant_id != tenant_id:
        raise Problem(404, f"no sheet {sheet_id!r}")
    return sheet
