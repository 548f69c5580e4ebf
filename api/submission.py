"""Accepting a job: check it, record it for its tenant, send it to the queue once.

A plain function, so tests call it without HTTP. The job goes out through
``producer.client.submit`` like every other producer's; the worker grades it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hanzi_grader.api.problems import Problem
from hanzi_grader.producer import client
from hanzi_grader.worker.jobs import DEFAULT_TOP_N

from hanzi_grader import database, job_records, webhooks
from hanzi_grader.errors import InvalidImage, InvalidJob
from hanzi_grader.settings import get_settings

QUEUED = "queued"


@dataclass(frozen=True)
class Submission:
    """One job as a client sent it, the image already decoded."""

    image: bytes
    student: str
    target: str | None = None
    top_n: int = DEFAULT_TOP_N
    job_id: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class Accepted:
    job_id: str
    status: str  # queued, or done / failed for a repeat of a graded job
    new: bool  # False: a repeat of an earlier submission


def accept_job(submission: Submission, *, tenant_id: int, api_key_id: int | None = None
               ) -> Accepted:
    """Queue ``submission`` for ``tenant_id``, sent with the key ``api_key_id`` (whose secret
    signs the job's webhook).

    A repeat of an earlier submission (same job id, same content) sends nothing new unless
    the job is still waiting: then it is sent again under the same id, which the worker grades
    once, so a job whose first send was lost to a broker outage is not stuck.
    """
    _check(submission)
    job_id = submission.job_id or client.new_job_id()
    with database.transaction() as session:
        recorded = job_records.record_job(
            session=session, job_id=job_id, tenant_id=tenant_id, student=submission.student,
            image_sha256=hashlib.sha256(submission.image).hexdigest(),
            target=submission.target, top_n=submission.top_n,
            callback_url=submission.callback_url, api_key_id=api_key_id)
        attempt = job_records.job_attempt(session=session, job_id=job_id)
    if attempt is not None:
        return Accepted(job_id, attempt.status, new=recorded.created)
    client.submit(submission.image, student=submission.student, target=submission.target,
                  top_n=submission.top_n, job_id=job_id, tenant=tenant_id)
    return Accepted(job_id, QUEUED, new=recorded.created)


def _check(submission: Submission) -> None:
    limit = get_settings().max_image_bytes
    if len(submission.image) > limit:
        raise Problem(413, f"image is {len(submission.image)} bytes, over the limit of "
                           f"{limit} bytes")
    if not submission.image:
        raise InvalidImage("image is empty (0 bytes)")
    if submission.callback_url is not None:
        refusal = webhooks.callback_refusal(submission.callback_url,
                                            get_settings().api_callback_hosts)
        if refusal is not None:
            raise InvalidJob(refusal)
    client.check_job(student=submission.student, target=submission.target,
                     top_n=submission.top_n, job_id=submission.job_id)
