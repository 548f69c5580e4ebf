"""Sending grading jobs to the queue: the one place a job message leaves for the broker.

The client side (``producer.client``) and the worker's sheet task (through
``worker.sheet_dispatch``) both send jobs here, by task name, so neither imports the task code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hanzi_grader.worker.app import GRADE_QUEUE, GRADE_TASK, app


def send_jobs(payloads: Iterable[dict[str, Any]],
              on_sent: Callable[[str], None] | None = None, *,
              keep_results: bool = True) -> None:
    """Send each job (a ``worker.jobs.make_payload`` message) over one broker connection.

    The task id is the job's id, so sending the same job twice grades it once. ``payloads``
    may be a generator: each message is built only when its turn comes. ``on_sent`` is called
    with each job id as it is sent (for a progress bar). ``keep_results=False``: the worker
    stores no result in the result backend, and this process does not subscribe to one (a
    sender that reads results from Postgres, like the HTTP API, needs neither).
    """
    with app.producer_or_acquire() as producer:
        for payload in payloads:
            app.send_task(GRADE_TASK, kwargs={"job": payload}, task_id=payload["job_id"],
                          queue=GRADE_QUEUE, producer=producer,
                          ignore_result=not keep_results)
            if on_sent is not None:
                on_sent(payload["job_id"])
