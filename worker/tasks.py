"""The batching task: a thin shell over ``worker.grading`` and ``hanzi_grader.attempts``.

celery-batches buffers jobs and calls ``grade_batch`` with up to ``flush_every`` requests, or
whatever arrived within ``flush_interval``. The batch's return value reaches no one, so every
request gets its own result here, and nothing escapes: an escaped exception would leave every
caller waiting. A batch is acknowledged (by celery-batches, with ``acks_late``) only when this
function returns, which is after its attempts are committed or after it has re-sent its jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task
from hanzi_grader.worker import grading, metrics, reporting, webhooks
from hanzi_grader.worker.acks import acknowledge_all
from hanzi_grader.worker.app import GRADE_QUEUE, GRADE_TASK, app
from hanzi_grader.worker.reporting import JobResult

from hanzi_grader import attempts, database, sheet_records
from hanzi_grader.errors import HanziError, ModelUnavailable, TransientError
from hanzi_grader.schema import Attempt
from hanzi_grader.settings import get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Postgres unreachable: retry in place for ~15 s (the batch stays unacknowledged), then re-send
# the jobs under the same ids with a growing countdown, at most MAX_REDELIVERIES times.
DB_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_REDELIVERIES = 30
MAX_REDELIVERY_COUNTDOWN_S = 120

_settings = get_settings()


class RequeueingBatches(Batches):
    """celery-batches, flushing as soon as a pool process is free, and requeueing lost batches.

    Flushing: celery-batches sends a batch when ``flush_every`` jobs are buffered or when its
    timer fires every ``flush_interval``. Alone, that makes a lone job wait for the timer and
    cuts partial batches while the model is busy. Here a job that finds a pool process idle is
    sent at once; while every process is busy, jobs gather into the next batch (up to
    ``flush_every``), which is sent the moment a batch returns. So batches grow with the load
    and a lone job waits for nothing. The timer stays as a safety net: it flushes when a
    process is idle, or when the pool has neither taken nor returned a batch for
    ``STALL_S`` seconds (a lost callback must not strand jobs).

    Requeueing: celery-batches acknowledges a batch when its pool call returns and gives the
    pool no error callback, so a pool process killed mid-batch (out of memory, GPU fault)
    leaves the batch's jobs unacknowledged until Redis's visibility timeout. Here they go
    straight back to the queue for the restarted process; idempotent attempts make the second
    try safe.
    """

    def __init__(self) -> None:
        super().__init__()
        self._in_flight = 0  # batches handed to the pool and not yet returned
        self._last_progress = time.monotonic()  # last batch handed over or returned
        self._processes = 1

    def Strategy(self, task: Batches, app: Any, consumer: Any) -> Callable:
        buffer_request = super().Strategy(task, app, consumer)
        self._processes = max(1, getattr(consumer.pool, "num_processes", 1) or 1)
        # Built again after a lost broker connection, when the pool drops (without callbacks)
        # the batches no process had taken yet; the broker redelivers their jobs. Count afresh.
        self._in_flight = 0

        def task_message_handler(*args: Any, **kwargs: Any) -> None:
            buffer_request(*args, **kwargs)
            self._do_flush()

        return task_message_handler

    def _do_flush(self) -> None:
        # Every flush comes here: celery-batches' timer and full buffer, arrivals, returns.
        if not holds_batch(buffered=self._buffer.qsize(), in_flight=self._in_flight,
                           processes=self._processes, flush_every=self.flush_every,
                           stalled_for=time.monotonic() - self._last_progress):
            super()._do_flush()

    def _returned(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)  # a batch from before a restart
        self._last_progress = time.monotonic()
        self._do_flush()

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        acks_early = [r for r in requests if not r.task.acks_late]
        acks_late = [r for r in requests if r.task.acks_late]

        def on_accepted(_pid: int, _time_accepted: float) -> None:
            for request in acks_early:
                request.acknowledge()

        def on_return(_result: Any) -> None:
            acknowledge_all(acks_late)
            self._returned()

        def on_lost(error: BaseException) -> None:
            logger.error("batch of %d lost with its pool process (%r); requeued",
                         len(requests), getattr(error, "exception", error))
            for request in acks_late:
                request.reject(requeue=True)
            self._returned()

        self._in_flight += 1
        self._last_progress = time.monotonic()
        return self._pool.apply_async(
            apply_batches_task,
            (self, ([SimpleRequest.from_request(r) for r in requests],), 0, None),
            accept_callback=on_accepted,
            callback=on_return,
            error_callback=on_lost,
        )


STALL_S = 60.0


def holds_batch(*, buffered: int, in_flight: int, processes: int, flush_every: int,
                stalled_for: float) -> bool:
    """True when buffered jobs should wait for more: every pool process is busy, the batch is
    not full, and the pool took or returned a batch less than ``STALL_S`` seconds ago."""
    return (buffered > 0 and in_flight >= processes and buffered < flush_every
            and stalled_for < STALL_S)


@app.task(
    base=RequeueingBatches,
    name=GRADE_TASK,
    queue=GRADE_QUEUE,
    flush_every=_settings.flush_every,
    flush_interval=_settings.flush_interval,
    acks_late=True,
)
def grade_batch(requests: list[SimpleRequest]) -> None:
    """Grade a batch of jobs (``kwargs={"job": payload}``) and record one attempt per job."""
    handle_batch(requests)


def handle_batch(requests: Sequence[SimpleRequest]) -> None:
    """Grade, store and report a batch; re-send it later if the database or model is down."""
    started = time.monotonic()
    try:
        results, counts = _grade_and_store(requests)
    except (TransientError, ModelUnavailable) as error:
        logger.error("batch of %d not graded (%s); re-sending it", len(requests), error)
        _redeliver_later(requests, error)
        return
    except Exception as error:  # a bug: fail every job loudly rather than leave callers waiting
        logger.exception("batch of %d crashed", len(requests))
        failure: JobResult = (HanziError(f"internal error: {error!r}"), None)
        reporting.report(app, requests, dict.fromkeys((r.id for r in requests), failure))
        return
    elapsed = time.monotonic() - started
    metrics.BATCH_SECONDS.observe(elapsed)
    reporting.report(app, requests, results)
    logger.info(
        "batch of %d: %d graded, %d failed, %d already stored; model %.0f ms, total %.0f ms",
        len(requests), counts["done"], counts["failed"], counts["stored"],
        counts["recognize_ms"], elapsed * 1000,
    )
    reporting.announce(app, GRADE_TASK, requests, results, elapsed)
    _send_callbacks(counts["graded_ids"], counts["finished_sheets"])


def _send_callbacks(job_ids: list[str], sheet_ids: list[str]) -> None:
    """Webhooks for the jobs this batch stored (a job stored before had its own) and the
    sheets it finished."""
    try:
        if job_ids:
            webhooks.send_callbacks(job_ids)
        if sheet_ids:
            webhooks.send_sheet_callbacks(sheet_ids)
    except Exception:  # the attempts are committed and reported; a lost webhook is logged
        logger.exception("could not queue the webhooks of %d jobs and %d sheets",
                         len(job_ids), len(sheet_ids))


def _grade_and_store(
    requests: Sequence[SimpleRequest],
) -> tuple[dict[str, JobResult], dict[str, Any]]:
    items = _unique_jobs(requests)
    stored = with_db_retries(lambda: _stored_attempts([job_id for job_id, _ in items]))
    fresh = [(job_id, payload) for job_id, payload in items if job_id not in stored]
    outcomes = grading.grade(
        fresh,
        recognizer=grading.load_recognizer() if fresh else None,
        max_image_bytes=_settings.max_image_bytes,
        worker=requests[0].hostname,
    )
    with_db_retries(lambda: _store(outcomes))
    metrics.record_batch(outcomes, already_stored=len(stored))
    finished_sheets = _finish_sheets({o.row.get("sheet_id") for o in outcomes}
                                     | {a.sheet_id for a in stored.values()})
    results = {job_id: _stored_result(a) for job_id, a in stored.items()}
    results |= {o.job_id: (o.error, o.result()) for o in outcomes}
    counts: dict[str, Any] = {
        "graded_ids": [o.job_id for o in outcomes],
        "finished_sheets": finished_sheets,
        "done": sum(not o.failed for o in outcomes),
        "failed": sum(o.failed for o in outcomes),
        "stored": len(stored),
        "recognize_ms": max((o.row.get("recognize_ms") or 0 for o in outcomes), default=0),
    }
    return results, counts


def _unique_jobs(requests: Sequence[SimpleRequest]) -> list[tuple[str, Any]]:
    # The same job id twice in one batch is graded once; both requests get its result.
    jobs: dict[str, Any] = {}
    for request in requests:
        jobs.setdefault(request.id, job_payload(request))
    return list(jobs.items())


def job_payload(request: SimpleRequest) -> Any:
    """The job a request carries: ``kwargs["job"]``, or the first positional argument."""
    if request.kwargs and "job" in request.kwargs:
        return request.kwargs["job"]
    return request.args[0] if request.args else None


def _stored_attempts(job_ids: list[str]) -> dict[str, Attempt]:
    with database.transaction() as session:
        return attempts.attempts_by_job_id(session=session, job_ids=job_ids)


def _store(outcomes: list[grading.Outcome]) -> set[str]:
    # One transaction for the whole batch: all its attempts are committed, or none.
    with database.transaction() as session:
        return attempts.record_attempts(session=session, rows=[o.row for o in outcomes])


def _finish_sheets(sheet_ids: set[str | None]) -> list[str]:
    """Score the sheets whose last cells this batch stored (see hanzi_grader.sheet_records);
    the ids of those that are done."""
    sheet_ids.discard(None)
    if not sheet_ids:
        return []

    def finish() -> list[str]:
        with database.transaction() as session:
            return sheet_records.finish_sheets(session=session, sheet_ids=sheet_ids)

    try:
        finished = with_db_retries(finish)
    except Exception:  # the attempts are committed; the sheet's producer can still finish it
        logger.exception("could not finish sheets %s", ", ".join(sorted(sheet_ids)))
        return []
    if finished:
        logger.info("sheets graded: %s", ", ".join(finished))
    return finished


def _stored_result(attempt: Attempt) -> JobResult:
    result = attempts.attempt_to_dict(attempt)
    if attempt.status == attempts.FAILED:
        return grading.error_from_name(attempt.error_type, attempt.error or ""), result
    return None, result


def with_db_retries(action: Callable[[], T], delays: Sequence[float] = DB_RETRY_DELAYS_S) -> T:
    """Run ``action``, retrying transient database errors after each delay in turn.

    Raises TransientError once the delays are used up; other errors pass straight through.
    """
    for delay in (*delays, None):
        try:
            return action()
        except Exception as error:
            if not database.is_transient(error):
                raise
            if delay is None:
                raise TransientError(f"database unreachable: {_first_line(error)}") from error
            logger.warning("database unreachable, retrying in %.1f s: %s", delay,
                           _first_line(error))
            time.sleep(delay)
    raise AssertionError("unreachable")


def _redeliver_later(requests: Sequence[SimpleRequest], error: HanziError) -> None:
    for request in requests:
        redeliveries = int((request.kwargs or {}).get("redeliveries", 0))
        if redeliveries >= MAX_REDELIVERIES:
            logger.error("job %s given up after %d redeliveries", request.id, redeliveries)
            reporting.report_one(app, request, (error, None))
            continue
        countdown = min(2 ** redeliveries, MAX_REDELIVERY_COUNTDOWN_S,
                        max(1, _settings.visibility_timeout // 2))
        grade_batch.apply_async(
            kwargs={"job": job_payload(request), "redeliveries": redeliveries + 1},
            task_id=request.id,
            countdown=countdown,
        )


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
