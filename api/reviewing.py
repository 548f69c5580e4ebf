"""A teacher's review of a tenant's graded job: the one path the API route and the desk share.

Checks the job is the tenant's, records the review (``hanzi_grader.reviews``, which rescores
the job's sheet) under the reviewer name the API records, and reads the job back.
"""

from __future__ import annotations

from hanzi_grader.api.problems import Problem
from sqlalchemy.orm import Session

from hanzi_grader import attempts, database, job_records, reviews
from hanzi_grader.schema import ApiKey, Attempt, Tenant
from hanzi_grader.tenants import KeyOwner


def review_job(job_id: str, *, verdict: str, note: str | None, owner: KeyOwner
               ) -> dict[str, object]:
    """Set the verdict that counts for the tenant's graded job; ``{"job_id", "status",
    "result"}``. Problem 404 for another tenant's job; NotGraded (409) while ungraded."""
    with database.transaction() as session:
        if not job_records.tenant_owns_job(session=session, job_id=job_id,
                                           tenant_id=owner.tenant_id):
            raise Problem(404, f"no job {job_id!r}")
        reviews.review_attempt(session=session, job_id=job_id, verdict=verdict, note=note,
                               reviewer=reviewer_name(session, owner),
                               tenant_id=owner.tenant_id)
        attempt: Attempt = job_records.job_attempt(session=session, job_id=job_id)
        return {"job_id": job_id, "status": attempt.status,
                "result": attempts.attempt_to_dict(attempt)}


def reviewer_name(session: Session, owner: KeyOwner) -> str:
    """``tenant/key-prefix``: enough to tell who reviewed, never the key itself."""
    tenant = session.get(Tenant, owner.tenant_id)
    key = session.get(ApiKey, owner.key_id)
    return f"{tenant.name if tenant else owner.tenant_id}/{key.prefix if key else owner.key_id}"
