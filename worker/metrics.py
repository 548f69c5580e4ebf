"""Prometheus metrics of a grading pool process: jobs graded and failed by reason, batch
sizes, time in the queue and in the model.

The pool process grades, so it counts and serves: with HANZI_WORKER_METRICS_PORT set, pool
process i serves ``/metrics`` on that port + i (one process per GPU, so a handful of ports),
started after the fork (``worker.app``). Labels are bounded: an outcome and an error class,
never a job or student.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram, start_http_server

if TYPE_CHECKING:
    from hanzi_grader.worker.grading import Outcome

logger = logging.getLogger(__name__)

JOBS_GRADED = Counter("hanzi_worker_jobs_total",
                      "Jobs graded by this process, by outcome (done, failed) and reason "
                      "(the error class of a failed job).", ["outcome", "reason"])
JOBS_ALREADY_STORED = Counter("hanzi_worker_jobs_redelivered_total",
                              "Jobs whose attempt was already stored (a redelivery).")
BATCH_SIZE = Histogram("hanzi_worker_batch_size", "Jobs in each batch.",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128))
QUEUE_SECONDS = Histogram("hanzi_worker_queue_seconds",
                          "From a job's submission to the start of its batch.",
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
MODEL_SECONDS = Histogram("hanzi_worker_model_seconds",
                          "The model call of a batch (decode, preprocess, forward).")
BATCH_SECONDS = Histogram("hanzi_worker_batch_seconds",
                          "A whole batch: grading and storing its attempts.")


def record_batch(outcomes: Sequence[Outcome], *, already_stored: int) -> None:
    """Count a batch's freshly graded jobs (``already_stored`` were graded before)."""
    BATCH_SIZE.observe(len(outcomes) + already_stored)
    JOBS_ALREADY_STORED.inc(already_stored)
    for outcome in outcomes:
        row = outcome.row
        JOBS_GRADED.labels(row["status"], row.get("error_type") or "").inc()
        if row.get("queue_ms") is not None:
            QUEUE_SECONDS.observe(max(0.0, row["queue_ms"]) / 1000)
    model_ms = max((o.row.get("recognize_ms") or 0 for o in outcomes), default=0)
    if model_ms:
        MODEL_SECONDS.observe(model_ms / 1000)


def serve(base_port: int | None, process_index: int | None) -> int | None:
    """Serve /metrics on ``base_port`` + the pool process's index; the port, or None."""
    if base_port is None:
        return None
    port = base_port + (process_index or 0)
    try:
        start_http_server(port)
    except OSError as error:  # a port in use must not stop grading
        logger.error("cannot serve worker metrics on port %d: %s", port, error)
        return None
    logger.info("worker metrics on port %d", port)
    return port
