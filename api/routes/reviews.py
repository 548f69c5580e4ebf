"""``POST /v1/jobs/{job_id}/review``: a teacher's verdict on a graded job."""

from __future__ import annotations

from fastapi import APIRouter
from hanzi_grader.api.deps import Owner
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.routes.jobs import PROBLEMS
from hanzi_grader.api.schemas import JobStatus, ReviewSubmission
from sqlalchemy.orm import Session

from hanzi_grader import attempts, database, job_records, reviews
from hanzi_grader.schema import ApiKey, Tenant
from hanzi_grader.tenants import KeyOwner

router = APIRouter(prefix="/v1/jobs", tags=["reviews"])


@router.post("/{job_id}/review", response_model=JobStatus, responses=PROBLEMS)
def review_job(job_id: str, body: ReviewSubmission, owner: Owner) -> JobStatus:
    """Set the verdict that counts for a graded job (the machine's is kept beside it); a
    later review replaces an earlier one. 409 while the job is not graded."""
    with database.transaction() as session:
        if not job_records.tenant_owns_job(session=session, job_id=job_id,
                                           tenant_id=owner.tenant_id):
            raise Problem(404, f"no job {job_id!r}")
        reviews.review_attempt(session=session, job_id=job_id, verdict=body.verdict,
                               note=body.note, reviewer=_reviewer(session, owner),
                               tenant_id=owner.tenant_id)
        attempt = job_records.job_attempt(session=session, job_id=job_id)
        return JobStatus(job_id=job_id, status=attempt.status,
                         result=attempts.attempt_to_dict(attempt))


def _reviewer(session: Session, owner: KeyOwner) -> str:
    # The tenant and the key's public prefix: enough to tell who, never the key itself.
    tenant = session.get(Tenant, owner.tenant_id)
    key = session.get(ApiKey, owner.key_id)
    return f"{tenant.name if tenant else owner.tenant_id}/{key.prefix if key else owner.key_id}"
