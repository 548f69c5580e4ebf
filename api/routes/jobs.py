"""``POST /v1/jobs``, ``POST /v1/jobs/batch`` and ``GET /v1/jobs/{job_id}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from hanzi_grader.api.deps import Owner, charge
from hanzi_grader.api.metrics import JOBS_SUBMITTED
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.schemas import (
    JobAccepted,
    JobBatch,
    JobsAccepted,
    JobStatus,
    JobSubmission,
    ProblemDocument,
)
from hanzi_grader.api.submission import (
    Accepted,
    Submission,
    accept_job,
    accept_jobs,
    naming_job,
)
from hanzi_grader.api.uploads import (
    JSON,
    content_kind,
    decode_base64,
    read_form,
    read_json,
    upload_body,
)
from hanzi_grader.worker.jobs import DEFAULT_TOP_N
from starlette.concurrency import run_in_threadpool

from hanzi_grader import attempts, database, job_records

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
BATCH_PATH = "/v1/jobs/batch"  # its own body limit (api.app)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDocument, "content": {"application/problem+json": {}}}
    for code in (401, 404, 409, 413, 422, 429, 503)
}
FORM_FIELDS = ("student", "target", "top_n", "job_id", "callback_url")

SUBMISSION_BODY = upload_body({
    "student": {"type": "string"}, "target": {"type": "string"},
    "top_n": {"type": "integer", "default": 5}, "job_id": {"type": "string"},
    "callback_url": {"type": "string"},
}, JobSubmission)


@router.post("", status_code=202, response_model=JobAccepted, responses=PROBLEMS,
             openapi_extra=SUBMISSION_BODY)
async def submit_job(request: Request, owner: Owner) -> JobAccepted:
    """Queue one character image for grading; poll ``status_url`` for the result."""
    submission = await _read_submission(request)
    accepted = await run_in_threadpool(accept_job, submission, tenant_id=owner.tenant_id,
                                       api_key_id=owner.key_id)
    return _answer(request, accepted)


@router.post(BATCH_PATH.removeprefix(router.prefix), status_code=202,
             response_model=JobsAccepted, responses=PROBLEMS)
async def submit_jobs(request: Request, batch: JobBatch, owner: Owner) -> JobsAccepted:
    """Queue up to 100 jobs in one request (JSON, each as ``POST /v1/jobs`` takes it): all
    are accepted or, if one is refused, none, the error naming it as ``jobs[i]``. Cheaper per
    job than single posts; the rate limit counts each job as a request."""
    await charge(request, owner, len(batch.jobs) - 1)  # the dependency counted one
    submissions = []
    for index, job in enumerate(batch.jobs):
        with naming_job(index):
            submissions.append(_from_json(job))
    accepted = await run_in_threadpool(accept_jobs, submissions, tenant_id=owner.tenant_id,
                                       api_key_id=owner.key_id)
    return JobsAccepted(jobs=[_answer(request, each) for each in accepted])


def _answer(request: Request, accepted: Accepted) -> JobAccepted:
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
    if content_kind(request) == JSON:
        return _from_json(read_json(await request.body(), JobSubmission))
    upload, fields = await read_form(request, FORM_FIELDS)
    student, top_n = fields.get("student"), fields.get("top_n")
    if student is None:
        raise Problem(422, "student: the field is required")
    if top_n is not None and not top_n.strip().lstrip("-").isdigit():
        raise Problem(422, f"top_n must be an integer, got {top_n!r}")
    return Submission(image=await upload.read(), student=student, target=fields.get("target"),
                      top_n=int(top_n) if top_n is not None else DEFAULT_TOP_N,
                      job_id=fields.get("job_id"), callback_url=fields.get("callback_url"))


def _from_json(job: JobSubmission) -> Submission:
    return Submission(image=decode_base64(job.image), student=job.student, target=job.target,
                      top_n=job.top_n, job_id=job.job_id, callback_url=job.callback_url)
