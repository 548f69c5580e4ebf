"""``/desk/sheets/{id}``: one sheet, its annotated page and its cells for review, those the
verifier was unsure of first; a review is stored through the API's own ``review_job``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hanzi_grader.api import sheets
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.reviewing import review_job
from hanzi_grader.api.web.classwork import PENDING, review_queue
from hanzi_grader.api.web.pages import PageError, render
from hanzi_grader.api.web.session import Teacher, check_csrf, current_teacher

from hanzi_grader.errors import HanziError
from hanzi_grader.reviews import VERDICTS

router = APIRouter(prefix="/desk", include_in_schema=False)
SignedIn = Annotated[Teacher, Depends(current_teacher)]
KEYS = {"correct": "c", "wrong_character": "w", "incomplete_or_unclear": "i"}


@router.get("/sheets/{sheet_id}", name="sheet_page")
def sheet_page(request: Request, sheet_id: str, teacher: SignedIn) -> HTMLResponse:
    view = _sheet(sheet_id, teacher)
    error = request.session.pop("review_error", None)
    return render(request, "sheet.html", teacher=teacher, view=view, error=error,
                  cells=review_queue(view.result), pending=view.status in PENDING,
                  verdicts=VERDICTS, keys=KEYS)


@router.post("/sheets/{sheet_id}/review", name="review_cell")
def review_cell(request: Request, sheet_id: str, teacher: SignedIn,
                job_id: Annotated[str, Form()], verdict: Annotated[str, Form()],
                note: Annotated[str, Form(max_length=2000)] = "",
                csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf)
    queue = [c.cell.job_id for c in review_queue(_sheet(sheet_id, teacher).result)]
    if job_id not in queue:
        raise PageError(404, f"sheet {sheet_id} has no cell {job_id} to review")
    try:
        review_job(job_id, verdict=verdict, note=note.strip() or None, owner=teacher.owner)
    except (Problem, HanziError) as error:
        request.session["review_error"] = str(error)[:300]
    # Back to the list at the next cell, so that a teacher working by keyboard goes on there.
    following = queue[min(queue.index(job_id) + 1, len(queue) - 1)]
    url = request.url_for("sheet_page", sheet_id=sheet_id)
    return RedirectResponse(f"{url}#cell-{following}", status_code=303)


@router.get("/sheets/{sheet_id}/cells/{row}/{col}.png", name="cell_image")
def cell_image(sheet_id: str, row: int, col: int, teacher: SignedIn) -> Response:
    try:
        png = sheets.cell_png(sheet_id, row, col, tenant_id=teacher.owner.tenant_id)
    except Problem as problem:
        raise PageError(problem.status, problem.detail) from None
    # A cell's image never changes (the sheet's id is its scan's digest): the browser keeps it.
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})


def _sheet(sheet_id: str, teacher: Teacher) -> sheets.SheetView:
    try:
        return sheets.read_sheet(sheet_id, tenant_id=teacher.owner.tenant_id)
    except Problem as problem:  # another tenant's sheet is as missing as an unknown one
        raise PageError(problem.status, problem.detail) from None
