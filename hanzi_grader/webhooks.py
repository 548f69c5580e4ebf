"""Webhooks: which callback URLs are allowed, the signed body, and the record of each try.

The API checks a callback URL when a job is posted; the worker's webhook task
(``worker.webhooks``) checks it again, signs and sends. The signature follows Stripe's scheme:
``Hanzi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the webhook
secret of the key that sent the job, so a receiver can check both the body and its age
(``verify``), and a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanzi_grader.attempts import attempt_to_dict
from hanzi_grader.schema import Attempt, Job, Sheet, WebhookDelivery

SIGNATURE_HEADER = "Hanzi-Signature"
DELIVERY_HEADER = "Hanzi-Delivery"  # the same for every try of one job: receivers drop repeats
EVENT_HEADER = "Hanzi-Event"
JOB_FINISHED = "job.finished"
SHEET_FINISHED = "sheet.finished"
TOLERANCE_S = 300

DELIVERED = "delivered"
RETRYING = "retrying"
FAILED = "failed"


def callback_refusal(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """Why ``url`` may not be called back (None: it may). Only http(s) to a host the operator
    listed in HANZI_API_CALLBACK_HOSTS: the worker must not be made to POST into the
    operator's own network (server-side request forgery)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  raises ValueError on a malformed port
    except ValueError:
        return f"callback_url {url!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"callback_url must be an http(s) URL with a host, got {url!r}"
    if parts.username or parts.password:
        return "callback_url must not carry credentials"
    if host not in {h.lower() for h in allowed_hosts}:
        return (f"callback_url host {host!r} is not allowed; the operator lists allowed hosts "
                f"in HANZI_API_CALLBACK_HOSTS")
    return None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Hanzi-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = TOLERANCE_S,
           now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s``
    old: what a receiver should check (this function is written to be copied)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def job_event(attempt: Attempt) -> dict[str, Any]:
    """The body of a finished job's webhook: the same object ``GET /v1/jobs/{id}`` answers."""
    return {"event": JOB_FINISHED, "job_id": attempt.job_id, "status": attempt.status,
            "result": attempt_to_dict(attempt)}


def sheet_event(sheet: Sheet, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a graded sheet's webhook: its score, what to practise and every cell."""
    return {"event": SHEET_FINISHED, "sheet_id": sheet.id, "status": sheet.status,
            "result": {"sheet_id": sheet.id, "student": sheet.student_id,
                       "sheet": sheet.source, "score": sheet.score, "error": sheet.error,
                       "practise": list(sheet.practise or []), "cells": cells}}


def sheets_to_call_back(*, session: Session, sheet_ids: Iterable[str]) -> list[str]:
    """The ids among ``sheet_ids`` of finished sheets that asked for a callback and have had
    no delivery yet (a sheet is seen finished again by every later batch of its cells)."""
    sheet_ids = list(sheet_ids)
    if not sheet_ids:
        return []
    delivered = select(WebhookDelivery.sheet_id).where(WebhookDelivery.sheet_id.is_not(None))
    return list(session.scalars(select(Sheet.id).where(
        Sheet.id.in_(sheet_ids), Sheet.callback_url.is_not(None),
        Sheet.status.in_(("done", "failed")), Sheet.id.not_in(delivered))))


def jobs_with_callbacks(*, session: Session, job_ids: Iterable[str]) -> list[str]:
    """The ids among ``job_ids`` whose job asked for a callback."""
    job_ids = list(job_ids)
    if not job_ids:
        return []
    return list(session.scalars(select(Job.job_id).where(Job.job_id.in_(job_ids),
                                                         Job.callback_url.is_not(None))))


def record_try(*, session: Session, subject: Job | Sheet, delivery_id: str, try_number: int,
               outcome: str, status_code: int | None = None, error: str | None = None,
               duration_ms: float | None = None) -> None:
    """Record one try at delivering the webhook of ``subject`` (a job or a sheet)."""
    is_job = isinstance(subject, Job)
    session.add(WebhookDelivery(delivery_id=delivery_id,
                                job_id=subject.job_id if is_job else None,
                                sheet_id=None if is_job else subject.id,
                                tenant_id=subject.tenant_id, url=subject.callback_url or "",
                                try_number=try_number, status_code=status_code, error=error,
                                outcome=outcome, duration_ms=duration_ms))
