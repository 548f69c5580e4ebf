"""Waiting for a job's result: the attempt as the worker stored it, or a timeout.

``producer.client`` offers these as part of its API; ``producer.sheets.collect`` waits for a
sheet's cells with them (and ``producer.client.sheet_result`` collects through it, so the
waiting lives below both).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from hanzi_grader.worker.app import app

RESULT_POLL_INTERVAL_S = 0.2
# Celery's Redis backend waits for a result's publication, which is now and then missed
# (seen in tests/integration/test_sheets.py: a stored result never arrived; celery/celery
# issue 4039 is the same symptom). Each wait of at most this long starts with a GET of the
# stored result, so a missed publication costs this delay, not the whole timeout.
RESULT_RECHECK_S = 2.0


class ResultTimeout(TimeoutError):
    """No result arrived for a job within the time asked for."""


def result(job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for a job's result: the attempt as stored (``status`` ``done`` or ``failed``).

    A failed job (not an image, no ink, unknown target...) is a result too, with ``error``
    and ``error_type``; only waiting longer than ``timeout`` seconds raises ResultTimeout.
    """
    async_result = AsyncResult(job_id, app=app)
    deadline = _now() + timeout
    while True:
        wait = min(RESULT_RECHECK_S, deadline - _now())
        try:
            value = async_result.get(timeout=max(wait, 0.001), propagate=False,
                                     interval=RESULT_POLL_INTERVAL_S)
            break
        except CeleryTimeout:
            if _now() >= deadline:
                raise ResultTimeout(f"job {job_id}: no result after {timeout:g} s; is a "
                                    f"worker running on {_broker()}?") from None
    if async_result.successful():
        return value
    error = async_result.result
    return {"job_id": job_id, "status": "failed", "error": str(error),
            "error_type": type(error).__name__}


def results(job_ids: Iterable[str], *, timeout: float = 60.0) -> Iterator[dict[str, Any]]:
    """The results of ``job_ids`` in order, all within ``timeout`` seconds from now."""
    deadline = _now() + timeout
    for job_id in job_ids:
        yield result(job_id, timeout=max(0.001, deadline - _now()))


def _broker() -> str:
    url = app.conf.broker_url or ""
    return url.split("@")[-1]


def _now() -> float:
    return time.monotonic()
