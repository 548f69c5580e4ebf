"""The jobs accepted by the HTTP API: recorded once per job id, read back by their tenant.

The job id is the Celery task id and the attempt's job id, so it is one namespace for every
tenant: a client's own job id is an idempotency key within its tenant, and a clash with
another tenant's id is refused (``JobIdTaken``) rather than shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanzi_grader.attempts import insert_ignoring_conflicts
from hanzi_grader.errors import HanziError
from hanzi_grader.schema import Attempt, Job


class JobIdTaken(HanziError):
    """The job id is already used by a different job (another tenant's, or other content)."""


@dataclass(frozen=True)
class Recorded:
    """A job row and whether this call created it (False: a repeated submission)."""

    job: Job
    created: bool


def record_job(*, session: Session, job_id: str, tenant_id: int, student: str,
               image_sha256: str, target: str | None, top_n: int,
               callback_url: str | None, api_key_id: int | None = None,
               id_is_new: bool = False) -> Recorded:
    """Store the job, or find the same job stored before; raise JobIdTaken on a clash.

    ``id_is_new``: the id was just made at random (not the client's), so it can clash with
    nothing and one INSERT is all it costs.
    """
    # INSERT .. ON CONFLICT DO NOTHING: two racing requests with one id make one row.
    values = {"job_id": job_id, "tenant_id": tenant_id, "student_id": student,
              "image_sha256": image_sha256, "target": target, "top_n": top_n,
              "callback_url": callback_url, "api_key_id": api_key_id}
    statement = insert_ignoring_conflicts(session, Job.__table__, "job_id")
    created = session.scalar(statement.values(values).returning(Job.job_id)) is not None
    if created:
        # A job id some `producer.client` caller already used has an attempt but no row
        # here: taking it would hand that attempt to this tenant.
        if not id_is_new and job_attempt(session=session, job_id=job_id) is not None:
            raise _taken(job_id)
        return Recorded(Job(**values), created=True)
    existing = session.get(Job, job_id)
    same = (existing.tenant_id == tenant_id and existing.student_id == student
            and existing.image_sha256 == image_sha256 and existing.target == target
            and existing.top_n == top_n)
    if not same:
        raise _taken(job_id)
    return Recorded(existing, created=False)


def _taken(job_id: str) -> JobIdTaken:
    # Deliberately vague: saying whose id it is would leak another tenant's job.
    return JobIdTaken(f"job id {job_id!r} is already used by a different job; choose "
                      f"another, or repeat the first request exactly")


def tenant_job(*, session: Session, job_id: str, tenant_id: int) -> Job | None:
    """The tenant's job called ``job_id``, or None (unknown, or another tenant's)."""
    job = session.get(Job, job_id)
    return job if job is not None and job.tenant_id == tenant_id else None


def job_attempt(*, session: Session, job_id: str) -> Attempt | None:
    """The graded attempt of a job, once the worker has stored it."""
    return session.scalar(select(Attempt).where(Attempt.job_id == job_id))


def tenant_owns_job(*, session: Session, job_id: str, tenant_id: int) -> bool:
    """Whether the job is the tenant's: a job it posted, or a cell of a sheet it posted (a
    sheet's cells have no row in ``jobs``; their attempt names the tenant)."""
    if tenant_job(session=session, job_id=job_id, tenant_id=tenant_id) is not None:
        return True
    attempt = job_attempt(session=session, job_id=job_id)
    return attempt is not None and attempt.sheet_id is not None and attempt.tenant_id == tenant_id
