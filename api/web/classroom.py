"""``/desk``: the class (every sheet, scores per student, the most missed characters), the
upload of a stack of scans, the class as CSV, and each sheet's annotated page."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hanzi_grader.api import sheets
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.web.classwork import class_view
from hanzi_grader.api.web.pages import PageError, render
from hanzi_grader.api.web.session import Teacher, check_csrf, current_teacher
from hanzi_grader.producer.sheets.cli import student_from_name
from hanzi_grader.producer.sheets.summary import write_csv_rows
from hanzi_grader.scans.layout import Layout
from kombu.exceptions import OperationalError as BrokerUnreachable
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hanzi_grader.errors import HanziError

router = APIRouter(prefix="/desk", include_in_schema=False)
SignedIn = Annotated[Teacher, Depends(current_teacher)]
MAX_SCANS = 100  # files in one upload; the request's size is capped by the API's body limit
NOTICES_KEPT = 12  # lines of upload notices kept in the cookie until the page shows them


@router.get("", name="class_page")
def class_page(request: Request, teacher: SignedIn) -> HTMLResponse:
    view = class_view(sheets.tenant_sheets(tenant_id=teacher.owner.tenant_id))
    notices = request.session.pop("notices", [])
    return render(request, "class.html", teacher=teacher, view=view, notices=notices)


@router.post("/sheets", name="upload_sheets")
async def upload_sheets(request: Request, teacher: SignedIn) -> RedirectResponse:
    """A stack of scans with one layout: each goes through ``POST /v1/sheets``'s own
    ``accept_sheet``; what could not be accepted is listed on the class page."""
    form = await request.form(max_files=MAX_SCANS, max_fields=8)
    check_csrf(request, form.get("csrf"))
    scans = [f for f in form.getlist("scans") if isinstance(f, UploadFile) and f.filename]
    student = _text(form.get("student"))
    notices: list[str] = []
    try:
        layout = sheets.sheet_layout(_text(form.get("expect")),
                                     sheets.layout_json(_text(form.get("layout"))))
    except (Problem, HanziError) as error:
        layout, notices = None, [f"Nothing was uploaded: {error}"]
    if layout is not None:
        if not scans:
            notices.append("Nothing was uploaded: choose one or more scans.")
        for scan in scans:
            notices.append(await _accept(scan, student, layout, teacher))
    request.session["notices"] = [n[:300] for n in notices[:NOTICES_KEPT]]
    return RedirectResponse(request.url_for("class_page"), status_code=303)


@router.get("/class.csv", name="class_csv")
def class_csv(request: Request, teacher: SignedIn) -> Response:
    """The class as `hanzi grade-sheet`'s summary.csv, the annotated column a link here."""
    results = []
    for view in sheets.tenant_sheets(tenant_id=teacher.owner.tenant_id):
        if view.status in ("done", "failed"):
            view.result.annotated = str(request.url_for("desk_annotated",
                                                        sheet_id=view.result.sheet_id))
        results.append(view.result)
    text = io.StringIO()
    write_csv_rows(results, text)
    return Response(text.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="class.csv"', "Cache-Control": "no-store"})


@router.get("/sheets/{sheet_id}/annotated.png", name="desk_annotated")
def annotated(sheet_id: str, teacher: SignedIn) -> Response:
    try:
        png = sheets.annotated_png(sheet_id, tenant_id=teacher.owner.tenant_id)
    except Problem as problem:
        raise PageError(problem.status, problem.detail) from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


async def _accept(scan: UploadFile, student: str | None, layout: Layout,
                  teacher: Teacher) -> str:
    name = Path(scan.filename or "scan").name
    owner = student or student_from_name(Path(name))
    try:
        image = await scan.read()
        _, status = await run_in_threadpool(
            sheets.accept_sheet, image, student=owner, layout=layout,
            tenant_id=teacher.owner.tenant_id, source=name, api_key_id=teacher.owner.key_id)
    except (Problem, HanziError) as error:
        return f"{name}: not uploaded: {error}"
    except BrokerUnreachable:
        return f"{name}: not uploaded: the job queue is unreachable; try again shortly"
    return f"{name}: {owner}, {status}"


def _text(value: object) -> str | None:
    # An empty field is an absent one, as in the API's forms.
    return value.strip() if isinstance(value, str) and value.strip() else None
