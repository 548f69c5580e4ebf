"""Delivering webhooks: POST a finished job or sheet to its callback URL, signed, retried with
back-off.

The task is thin; ``deliver`` is a plain function that tests call without a broker. Each try
is recorded (``webhook_deliveries``). Retries back off 1 s, 2 s, 4 s ... up to 2 minutes, ten
tries in all (about six minutes): each retry waits in the webhook worker's memory as an
ETA message, which Redis hands to another worker once it is older than the visibility timeout
(300 s), so no single wait may come near that. Delivery is at least once; every try of a job
carries the same ``Hanzi-Delivery`` id.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from typing import Any

from hanzi_grader.worker.app import WEBHOOK_QUEUE, WEBHOOK_TASK, app
from sqlalchemy.orm import Session

from hanzi_grader import database, sheet_records, webhooks
from hanzi_grader.job_records import job_attempt
from hanzi_grader.schema import ApiKey, Job, Sheet
from hanzi_grader.settings import get_settings

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (1, 2, 4, 8, 16, 32, 64, 120, 120)  # then the tenth try is the last
TIMEOUT_S = 10.0
USER_AGENT = "hanzi-grader-webhooks/1"
ERROR_BODY_CHARS = 200


JOB = "job"
SHEET = "sheet"


@app.task(name=WEBHOOK_TASK, queue=WEBHOOK_QUEUE, acks_late=True)
def deliver_webhook(subject_id: str, delivery_id: str, try_number: int = 1,
                    kind: str = JOB) -> str:
    """Try once to deliver the webhook of a job (``kind`` job) or a sheet; on a retryable
    failure, schedule the next try."""
    outcome = deliver(subject_id, delivery_id=delivery_id, try_number=try_number, kind=kind)
    if outcome == webhooks.RETRYING:
        deliver_webhook.apply_async((subject_id, delivery_id, try_number + 1, kind),
                                    countdown=RETRY_DELAYS_S[try_number - 1])
    return outcome


def send_callbacks(job_ids: Iterable[str]) -> list[str]:
    """Queue a delivery for each of ``job_ids`` that asked for a callback; their ids."""
    with database.transaction() as session:
        wanted = webhooks.jobs_with_callbacks(session=session, job_ids=job_ids)
    _queue(wanted, JOB)
    return wanted


def send_sheet_callbacks(sheet_ids: Iterable[str]) -> list[str]:
    """Queue a delivery for each finished sheet among ``sheet_ids`` that asked for one."""
    with database.transaction() as session:
        wanted = webhooks.sheets_to_call_back(session=session, sheet_ids=sheet_ids)
    _queue(wanted, SHEET)
    return wanted


def _queue(subject_ids: list[str], kind: str) -> None:
    for subject_id in subject_ids:
        app.send_task(WEBHOOK_TASK, args=(subject_id, uuid.uuid4().hex, 1, kind),
                      queue=WEBHOOK_QUEUE)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead from an allowed host to one that is not: never follow it.
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver(subject_id: str, *, delivery_id: str, try_number: int, kind: str = JOB) -> str:
    """POST the job's (or sheet's) result to its callback URL once; record and return the
    outcome."""
    with database.transaction() as session:
        subject, event = _subject(session, subject_id, kind)
        if subject is None or event is None or not subject.callback_url:
            logger.error("webhook for %s %s: nothing finished to send, or nowhere to send it",
                         kind, subject_id)
            return webhooks.FAILED
        refusal = webhooks.callback_refusal(subject.callback_url,
                                            get_settings().api_callback_hosts)
        key = session.get(ApiKey, subject.api_key_id) if subject.api_key_id is not None else None
        if refusal is None and key is None:
            refusal = "the API key that sent it is gone: nothing to sign with"
        if refusal is not None:
            webhooks.record_try(session=session, subject=subject, delivery_id=delivery_id,
                                try_number=try_number, outcome=webhooks.FAILED, error=refusal)
            return webhooks.FAILED
        body = json.dumps(event, ensure_ascii=False).encode()
        url, secret = subject.callback_url, key.webhook_secret
    status, error, seconds = _post(url, body, secret, delivery_id, event["event"])
    if status is not None and 200 <= status < 300:
        outcome = webhooks.DELIVERED
    elif try_number <= len(RETRY_DELAYS_S):
        outcome = webhooks.RETRYING
    else:
        outcome = webhooks.FAILED
    with database.transaction() as session:
        webhooks.record_try(session=session, subject=_subject(session, subject_id, kind)[0],
                            delivery_id=delivery_id, try_number=try_number, outcome=outcome,
                            status_code=status, error=error, duration_ms=round(seconds * 1e3, 3))
    log = logger.info if outcome == webhooks.DELIVERED else logger.warning
    log("webhook for %s %s, try %d: %s (%s)", kind, subject_id, try_number, outcome,
        status or error)
    return outcome


def _subject(session: Session, subject_id: str,
             kind: str) -> tuple[Job | Sheet | None, dict[str, Any] | None]:
    """The job or sheet, and its webhook body (None while it is not finished)."""
    if kind == SHEET:
        sheet = session.get(Sheet, subject_id)
        if sheet is None or sheet.status not in (sheet_records.DONE, sheet_records.FAILED):
            return sheet, None
        cells = sheet_records.sheet_cells(session=session, sheet=sheet)
        return sheet, webhooks.sheet_event(sheet, cells)
    job = session.get(Job, subject_id)
    attempt = job_attempt(session=session, job_id=subject_id)
    return job, None if attempt is None else webhooks.job_event(attempt)


def _post(url: str, body: bytes, secret: str, delivery_id: str,
          event: str) -> tuple[int | None, str | None, float]:
    """(HTTP status or None, error or None, seconds) of one signed POST."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               webhooks.SIGNATURE_HEADER: webhooks.sign(secret, body, int(time.time())),
               webhooks.DELIVERY_HEADER: delivery_id,
               webhooks.EVENT_HEADER: event}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            return response.status, None, time.monotonic() - started
    except urllib.error.HTTPError as error:  # an answer, just not 2xx (3xx included)
        text = error.read(ERROR_BODY_CHARS).decode(errors="replace")
        return error.code, text or error.reason, time.monotonic() - started
    except (urllib.error.URLError, OSError) as error:  # no answer: refused, timed out...
        reason = getattr(error, "reason", error)
        return None, f"{type(error).__name__}: {reason}", time.monotonic() - started
