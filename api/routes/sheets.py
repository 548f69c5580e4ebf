"""``POST /v1/sheets``, ``GET /v1/sheets/{sheet_id}`` and its annotated page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from hanzi_grader.api import sheets
from hanzi_grader.api.deps import Owner
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.routes.jobs import PROBLEMS
from hanzi_grader.api.schemas import SheetAccepted, SheetStatus, SheetSubmission
from hanzi_grader.api.uploads import (
    JSON,
    content_kind,
    decode_base64,
    read_form,
    read_json,
    upload_body,
)
from hanzi_grader.scans.layout import Layout
from starlette.concurrency import run_in_threadpool

router = APIRouter(prefix="/v1/sheets", tags=["sheets"])
SHEET_FORM_FIELDS = ("student", "expect", "layout", "source", "callback_url")
SHEET_BODY = upload_body({
    "student": {"type": "string"},
    "expect": {"type": "string", "description": "a character per row"},
    "layout": {"type": "string", "description": "the layout as JSON"},
    "source": {"type": "string"}, "callback_url": {"type": "string"},
}, SheetSubmission)


@router.post("", status_code=202, response_model=SheetAccepted, responses=PROBLEMS,
             openapi_extra=SHEET_BODY)
async def submit_sheet(request: Request, owner: Owner) -> SheetAccepted:
    """Queue a scanned practice sheet; its cells are graded like jobs. Give the layout as
    ``expect`` (a character per row) or ``layout`` (the layout file's settings)."""
    image, data, layout = await _read_sheet(request)
    sheet_id, status = await run_in_threadpool(
        sheets.accept_sheet, image, student=data.student, layout=layout,
        tenant_id=owner.tenant_id, source=data.source, callback_url=data.callback_url,
        api_key_id=owner.key_id)
    return SheetAccepted(sheet_id=sheet_id, status=status,
                         status_url=str(request.url_for("sheet_status", sheet_id=sheet_id)))


@router.get("/{sheet_id}", response_model=SheetStatus, responses=PROBLEMS, name="sheet_status")
def sheet_status(sheet_id: str, owner: Owner, request: Request) -> dict[str, Any]:
    """The sheet as `hanzi grade-sheet --json` prints it, with its status."""
    view = sheets.read_sheet(sheet_id, tenant_id=owner.tenant_id)
    body = view.result.to_dict() | {"status": view.status}
    if view.status in ("done", "failed"):
        body["annotated"] = str(request.url_for("sheet_annotated", sheet_id=sheet_id))
    return body


@router.get("/{sheet_id}/annotated.png", response_class=Response, name="sheet_annotated",
            responses={200: {"content": {"image/png": {}}}} | PROBLEMS)
def sheet_annotated(sheet_id: str, owner: Owner) -> Response:
    """The scan with each cell outlined in its verdict's colour and the score on top."""
    png = sheets.annotated_png(sheet_id, tenant_id=owner.tenant_id)
    return Response(png, media_type="image/png")


async def _read_sheet(request: Request) -> tuple[bytes, SheetSubmission, Layout]:
    if content_kind(request) == JSON:
        data = read_json(await request.body(), SheetSubmission)
        image = decode_base64(data.image or "")
    else:
        upload, fields = await read_form(request, SHEET_FORM_FIELDS)
        data = SheetSubmission.model_construct(
            student=fields.get("student"), expect=fields.get("expect"),
            layout=sheets.layout_json(fields.get("layout")),
            source=fields.get("source") or upload.filename,
            callback_url=fields.get("callback_url"))
        image = await upload.read()
    if not data.student:
        raise Problem(422, "student: the field is required")
    return image, data, sheets.sheet_layout(data.expect, data.layout)
