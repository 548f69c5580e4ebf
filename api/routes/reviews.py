"""``POST /v1/jobs/{job_id}/review``: a teacher's verdict on a graded job."""

from __future__ import annotations

from fastapi import APIRouter
from hanzi_grader.api.deps import Owner
from hanzi_grader.api.reviewing import review_job as record_review
from hanzi_grader.api.routes.jobs import PROBLEMS
from hanzi_grader.api.schemas import JobStatus, ReviewSubmission

router = APIRouter(prefix="/v1/jobs", tags=["reviews"])


@router.post("/{job_id}/review", response_model=JobStatus, responses=PROBLEMS)
def review_job(job_id: str, body: ReviewSubmission, owner: Owner) -> JobStatus:
    """Set the verdict that counts for a graded job (the machine's is kept beside it); a
    later review replaces an earlier one. 409 while the job is not graded."""
    return JobStatus.model_validate(record_review(job_id, verdict=body.verdict,
                                                  note=body.note, owner=owner))
