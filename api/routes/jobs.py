"""``POST /v1/jobs`` and ``GET /v1/jobs/{job_id}``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Request
from hanzi_grader.api.deps import Owner
from hanzi_grader.api.metrics import JOBS_SUBMITTED
from hanzi_grader.api.problems import Problem, validation_detail
from hanzi_grader.api.schemas import JobAccepted, JobStatus, JobSubmission, ProblemDocument
from hanzi_grader.api.submission import Submission, accept_job
from hanzi_grader.worker.jobs import DEFAULT_TOP_N
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hanzi_grader import attempts, database, job_records

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDocument, "content": {"application/problem+json": {}}}
    for code in (401, 404, 409, 413, 422, 429, 503)
}
FORM_FIELDS = ("student", "target", "top_n", "job_id", "callback_url")

# Both bodies are read by hand (one route, two content types), so the schema is given here.
SUBMISSION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image", "student"],
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "student": {"type": "string"}, "target": {"type": "string"},
                    "top_n": {"type": "integer", "default": 5}, "job_id": {"type": "string"},
                    "callback_url": {"type": "string"},
                }}},
            "application/json": {"schema": {"$ref": "#/components/schemas/JobSubmission"}},
        },
    }
}


@router.post("", status_code=202, response_model=JobAccepted, responses=PROBLEMS,
             openapi_extra=SUBMISSION_BODY)
async def submit_job(request: Request, owner: Owner) -> JobAccepted:
    """Queue one character image for grading; poll ``status_url`` for the result."""
    submission = await _read_submission(request)
    accepted = await run_in_threadpool(accept_job, submission, tenant_id=owner.tenant_id,
                                       api_key_id=owner.key_id)
    if accepted.new:
        JOBS_SUBMITTED.labels("api").inc()
    return JobAccepted(job_id=accepted.job_id, status=accepted.status,
                       status_url=str(request.url_for("job_status", job_id=accepted.job_id)))


@router.get("/{job_id}", response_model=JobStatus, responses=PROBLEMS, name="job_status")
def job_status(job_id: str, owner: Owner) -> JobStatus:
    """A job's status: queued, or done / failed with its result (a sheet's cells too)."""
    with database.transaction() as session:
        if not job_records.tenant_owns_job(session=session, job_id=job_id,
                                           tenant_id=owner.tenant_id):
            raise Problem(404, f"no job {job_id!r}")
        attempt = job_records.job_attempt(session=session, job_id=job_id)
        if attempt is None:
            return JobStatus(job_id=job_id, status="queued", result=None)
        return JobStatus(job_id=job_id, status=attempt.status,
                         result=attempts.attempt_to_dict(attempt))


async def _read_submission(request: Request) -> Submission:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _from_form(request)
    if kind == "application/json":
        return _from_json(await request.body())
    raise Problem(415, f"send multipart/form-data or application/json, not {kind or 'nothing'}")


async def _from_form(request: Request) -> Submission:
    # The body's size is already capped by BodySizeLimit; the fields are small.
    form = await request.form(max_files=1, max_fields=len(FORM_FIELDS) + 1)
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise Problem(422, "image: a file is required (multipart field `image`)")
    unknown = sorted(set(form.keys()) - {"image", *FORM_FIELDS})
    if unknown:
        raise Problem(422, f"unknown field(s) {', '.join(unknown)}; known: image, "
                           f"{', '.join(FORM_FIELDS)}")

    def field(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) and value != "" else None

    student, top_n = field("student"), field("top_n")
    if student is None:
        raise Problem(422, "student: the field is required")
    if top_n is not None and not top_n.strip().lstrip("-").isdigit():
        raise Problem(422, f"top_n must be an integer, got {top_n!r}")
    return Submission(image=await upload.read(), student=student, target=field("target"),
                      top_n=int(top_n) if top_n is not None else DEFAULT_TOP_N,
                      job_id=field("job_id"), callback_url=field("callback_url"))


def _from_json(body: bytes) -> Submission:
    try:
        data = JobSubmission.model_validate(json.loads(body))
    except json.JSONDecodeError as error:
        raise Problem(422, f"body is not JSON: {error}") from None
    except ValidationError as error:
        raise Problem(422, validation_detail(error.errors())) from None
    try:
        image = base64.b64decode(data.image, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Problem(422, f"image is not valid base64 ({error})") from None
    return Submission(image=image, student=data.student, target=data.target, top_n=data.top_n,
                      job_id=data.job_id, callback_url=data.callback_url)
