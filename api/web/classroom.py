"""``/desk``: the class (every sheet, scores per student, the most missed characters), the
upload of a stack of scans, the class as CSV, and each sheet's annotated page."""

from __future__ import annotations

import hashlib
import io
import json
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
# A stack of scans in one form: its body may be larger than one API request's
# (HANZI_WEB_MAX_UPLOAD_BYTES, app.py); each scan is still held to HANZI_MAX_IMAGE_BYTES.
UPLOAD_PATH = "/desk/sheets"
SignedIn = Annotated[Teacher, Depends(current_teacher)]
MAX_SCANS = 100  # files in one upload
NOTICES_KEPT = 8  # refusals listed after an upload; the rest are counted
NOTICE_CHARS = 240


@router.get("", name="class_page")
def class_page(request: Request, teacher: SignedIn) -> HTMLResponse:
    view = class_view(sheets.tenant_sheets(tenant_id=teacher.owner.tenant_id))
    notices = request.session.pop("notices", [])
    return render(request, "class.html", teacher=teacher, view=view, notices=notices)


@router.post(UPLOAD_PATH.removeprefix(router.prefix), name="upload_sheets")
async def upload_sheets(request: Request, teacher: SignedIn) -> RedirectResponse:
    """A stack of scans with one layout: each goes through ``POST /v1/sheets``'s own
    ``accept_sheet``; what could not be accepted is listed on the class page."""
    form = await request.form(max_files=MAX_SCANS, max_fields=8)
    check_csrf(request, form.get("csrf"))
    scans = [f for f in form.getlist("scans") if isinstance(f, UploadFile) and f.filename]
    student = _text(form.get("student"))
    try:
        layout = sheets.sheet_layout(_text(form.get("expect")),
                                     sheets.layout_json(_text(form.get("layout"))))
    except (Problem, HanziError) as error:
        return _back_to_class(request, [f"Nothing was uploaded: {error}"[:NOTICE_CHARS]])
    if not scans:
        return _back_to_class(request, ["Nothing was uploaded: choose one or more scans."])
    accepted, refused = [], []
    for scan in scans:
        ok, said = await _accept(scan, student, layout, teacher)
        (accepted if ok else refused).append(said)
    return _back_to_class(request, _notices(accepted, refused))


def _back_to_class(request: Request, notices: list[str]) -> RedirectResponse:
    request.session["notices"] = notices
    return RedirectResponse(request.url_for("class_page"), status_code=303)


def _notices(accepted: list[str], refused: list[str]) -> list[str]:
    # Kept in the session cookie until the class page shows them, so they are kept short.
    notices = []
    if accepted:
        notices.append(f"Uploaded {len(accepted)}: {', '.join(accepted)}"[:NOTICE_CHARS])
    notices += [line[:NOTICE_CHARS] for line in refused[:NOTICES_KEPT]]
    if len(refused) > NOTICES_KEPT:
        notices.append(f"… and {len(refused) - NOTICES_KEPT} more not uploaded")
    return notices


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
def annotated(request: Request, sheet_id: str, teacher: SignedIn) -> Response:
    """The annotated page, drawn again only when the sheet changed: the class page reloads
    itself every few seconds while grading, and asks for every graded sheet's page each time."""
    try:
        view = sheets.read_sheet(sheet_id, tenant_id=teacher.owner.tenant_id)
        etag = '"' + hashlib.sha256(json.dumps(
            [view.status, view.result.to_dict()], sort_keys=True, default=str).encode()
        ).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        png = sheets.annotated_png(sheet_id, tenant_id=teacher.owner.tenant_id)
    except Problem as problem:
        raise PageError(problem.status, problem.detail) from None
    return Response(png, media_type="image/png", headers=headers)


async def _accept(scan: UploadFile, student: str | None, layout: Layout,
                  teacher: Teacher) -> tuple[bool, str]:
    """(True, "student (file)") for a scan accepted, (False, "file: why") for one refused."""
    name = Path(scan.filename or "scan").name
    owner = student or student_from_name(Path(name))
    try:
        image = await scan.read()
        await run_in_threadpool(
            sheets.accept_sheet, image, student=owner, layout=layout,
            tenant_id=teacher.owner.tenant_id, source=name, api_key_id=teacher.owner.key_id)
    except (Problem, HanziError) as error:
        return False, f"{name}: not uploaded: {error}"
    except BrokerUnreachable:
        return False, f"{name}: not uploaded: the job queue is unreachable; try again shortly"
    return True, f"{owner} ({name})"


def _text(value: object) -> str | None:
    # An empty field is an absent one, as in the API's forms.
    return value.strip() if isinstance(value, str) and value.strip() else None
