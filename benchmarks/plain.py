"""The batching worker's control: a plain Celery task that grades one image per message.

It does exactly the per-job work of the batching task (``worker.tasks.handle_batch``: parse,
recognize, store the attempt in its own transaction, write the result), one message at a
time, so the batching gain measures batching and nothing else. Started as
``celery -A benchmarks.plain worker -Q hanzi.bench.plain``; the model is loaded in each pool
process by ``worker.app``'s start-up hook, as for the real worker.
"""

from __future__ import annotations

import sys
from typing import Any

from celery_batches import SimpleRequest
from hanzi_grader.worker import tasks
from hanzi_grader.worker.app import app

PLAIN_TASK = "hanzi.bench.grade_one"
PLAIN_QUEUE = "hanzi.bench.plain"

__all__ = ["PLAIN_QUEUE", "PLAIN_TASK", "app", "grade_one", "worker_command"]


# ignore_result: handle_batch writes the job's result itself; Celery must not overwrite it.
@app.task(bind=True, name=PLAIN_TASK, queue=PLAIN_QUEUE, acks_late=True, ignore_result=True)
def grade_one(self, job: Any = None) -> None:
    """Grade one job, as a batch of one."""
    request = self.request
    tasks.handle_batch([SimpleRequest(
        id=request.id, name=PLAIN_TASK, args=(), kwargs={"job": job},
        delivery_info=request.delivery_info or {}, hostname=request.hostname,
        ignore_result=False, reply_to=None, correlation_id=None, request_dict={},
    )])


def worker_command(name: str) -> list[str]:
    """The command that starts a worker for the plain task only."""
    return [sys.executable, "-m", "celery", "-A", "benchmarks.plain", "worker",
            "-Q", PLAIN_QUEUE, "-l", "info", "-n", f"{name}@%h"]
