"""Delivering webhooks: POST a finished job to its callback URL, signed, retried with back-off.

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

from hanzi_grader.worker.app import WEBHOOK_QUEUE, WEBHOOK_TASK, app

from hanzi_grader import database, webhooks
from hanzi_grader.job_records import job_attempt
from hanzi_grader.schema import ApiKey, Job
from hanzi_grader.settings import get_settings

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (1, 2, 4, 8, 16, 32, 64, 120, 120)  # then the tenth try is the last
TIMEOUT_S = 10.0
USER_AGENT = "hanzi-grader-webhooks/1"
ERROR_BODY_CHARS = 200


@app.task(name=WEBHOOK_TASK, queue=WEBHOOK_QUEUE, acks_late=True)
def deliver_webhook(job_id: str, delivery_id: str, try_number: int = 1) -> str:
    """Try once; on a retryable failure, schedule the next try."""
    outcome = deliver(job_id, delivery_id=delivery_id, try_number=try_number)
    if outcome == webhooks.RETRYING:
        deliver_webhook.apply_async((job_id, delivery_id, try_number + 1),
                                    countdown=RETRY_DELAYS_S[try_number - 1])
    return outcome


def send_callbacks(job_ids: Iterable[str]) -> list[str]:
    """Queue a delivery for each of ``job_ids`` that asked for a callback; their ids."""
    with database.transaction() as session:
        wanted = webhooks.jobs_with_callbacks(session=session, job_ids=job_ids)
    for job_id in wanted:
        app.send_task(WEBHOOK_TASK, args=(job_id, uuid.uuid4().hex, 1), queue=WEBHOOK_QUEUE)
    return wanted


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead from an allowed host to one that is not: never follow it.
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver(job_id: str, *, delivery_id: str, try_number: int) -> str:
    """POST the job's result to its callback URL once; record and return the outcome."""
    with database.transaction() as session:
        job = session.get(Job, job_id)
        attempt = job_attempt(session=session, job_id=job_id)
        if job is None or attempt is None or not job.callback_url:
            logger.error("webhook for job %s: no job, attempt or callback URL", job_id)
            return webhooks.FAILED
        refusal = webhooks.callback_refusal(job.callback_url, get_settings().api_callback_hosts)
        key = session.get(ApiKey, job.api_key_id) if job.api_key_id is not None else None
        if refusal is None and key is None:
            refusal = "the API key that sent the job is gone: nothing to sign with"
        if refusal is not None:
            webhooks.record_try(session=session, job=job, delivery_id=delivery_id,
                                try_number=try_number, outcome=webhooks.FAILED, error=refusal)
            return webhooks.FAILED
        body = json.dumps(webhooks.job_event(attempt), ensure_ascii=False).encode()
        url, secret = job.callback_url, key.webhook_secret
    status, error, seconds = _post(url, body, secret, delivery_id)
    if status is not None and 200 <= status < 300:
        outcome = webhooks.DELIVERED
    elif try_number <= len(RETRY_DELAYS_S):
        outcome = webhooks.RETRYING
    else:
        outcome = webhooks.FAILED
    with database.transaction() as session:
        webhooks.record_try(session=session, job=session.get(Job, job_id),
                            delivery_id=delivery_id, try_number=try_number, outcome=outcome,
                            status_code=status, error=error, duration_ms=round(seconds * 1e3, 3))
    log = logger.info if outcome == webhooks.DELIVERED else logger.warning
    log("webhook for job %s, try %d: %s (%s)", job_id, try_number, outcome, status or error)
    return outcome


def _post(url: str, body: bytes, secret: str,
          delivery_id: str) -> tuple[int | None, str | None, float]:
    """(HTTP status or None, error or None, seconds) of one signed POST."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               webhooks.SIGNATURE_HEADER: webhooks.sign(secret, body, int(time.time())),
               webhooks.DELIVERY_HEADER: delivery_id,
               webhooks.EVENT_HEADER: webhooks.JOB_FINISHED}
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
