"""Accepting jobs: check them, record them for their tenant, send them to the queue once.

A plain function, so tests call it without HTTP. The job goes out through
``producer.client.submit`` like every other producer's; the worker grades it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from hanzi_grader.api.problems import Problem
from hanzi_grader.producer import client
from sqlalchemy import text
from sqlalchemy.orm import Session

from hanzi_grader import database, job_records, webhooks
from hanzi_grader.errors import HanziError, InvalidImage, InvalidJob
from hanzi_grader.settings import get_settings

QUEUED = "queued"


@dataclass(frozen=True)
class Submission(client.Job):
    """One job as a client sent it, the image already decoded, and where its result goes."""

    image: bytes
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
    return _accept([submission], tenant_id=tenant_id, api_key_id=api_key_id, batch=False)[0]


def accept_jobs(submissions: Sequence[Submission], *, tenant_id: int,
                api_key_id: int | None = None) -> list[Accepted]:
    """Queue a batch as ``accept_job`` queues one: all of it or, if one job is refused,
    none of it (the error names the job as ``jobs[i]``). One transaction, one broker
    connection: what makes a batch cheaper per job than single posts."""
    seen: dict[str, int] = {}
    for index, submission in enumerate(submissions):
        with naming_job(index):
            _check(submission)
            if submission.job_id is not None:
                first = seen.setdefault(submission.job_id, index)
                if first != index:
                    raise InvalidJob(f"job id {submission.job_id!r} repeats jobs[{first}]")
    return _accept(submissions, tenant_id=tenant_id, api_key_id=api_key_id, batch=True)


def _accept(submissions: Sequence[Submission], *, tenant_id: int, api_key_id: int | None,
            batch: bool) -> list[Accepted]:
    job_ids = [submission.job_id or client.new_job_id() for submission in submissions]
    accepted: list[Accepted] = []
    with database.transaction() as session:
        relax_commit(session)
        for index, (submission, job_id) in enumerate(zip(submissions, job_ids, strict=True)):
            with naming_job(index if batch else None):
                recorded = job_records.record_job(
                    session=session, job_id=job_id, tenant_id=tenant_id,
                    student=submission.student,
                    image_sha256=hashlib.sha256(submission.image).hexdigest(),
                    target=submission.target, top_n=submission.top_n,
                    callback_url=submission.callback_url, api_key_id=api_key_id,
                    id_is_new=submission.job_id is None)
            # A new job has no attempt yet (record_job made sure); only a repeat may be graded.
            attempt = (None if recorded.created
                       else job_records.job_attempt(session=session, job_id=job_id))
            accepted.append(Accepted(job_id, attempt.status, new=False) if attempt is not None
                            else Accepted(job_id, QUEUED, new=recorded.created))
    # keep_results=False: the API reads attempts from Postgres; a result subscription per job
    # would cost a Redis round trip and grow this process without end.
    client.submit_jobs([replace(submission, job_id=answer.job_id)
                        for submission, answer in zip(submissions, accepted, strict=True)
                        if answer.status == QUEUED],
                       tenant=tenant_id, keep_results=False)
    return accepted


@contextmanager
def naming_job(index: int | None) -> Iterator[None]:
    """Prefix a refusal raised inside with ``jobs[index]: `` (a batch's job)."""
    if index is None:
        yield
        return
    try:
        yield
    except Problem as problem:
        raise Problem(problem.status, f"jobs[{index}]: {problem.detail}",
                      headers=problem.headers) from None
    except HanziError as error:
        raise type(error)(f"jobs[{index}]: {error}") from None


def relax_commit(session: Session) -> None:
    """Commit this transaction without waiting for its WAL flush (Postgres only).

    It saves a disk flush per submission. What the flush would buy is small: a Postgres crash
    in the next few hundred milliseconds could lose the job's row, while the job itself sits
    in Redis, whose append-only file has the same one-second window; the attempt is still
    stored when graded, and a client that repeats its POST records the row again.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


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
