"""Telling the world about a graded batch: each job's result, and task events for Flower.

Both used to cost Redis round trips per job (a GET and a SET+PUBLISH per result, a PUBLISH per
event, three events per job), which took a third of the pool process's time. Here a batch
costs one MGET and one pipeline for its results, and one message for its events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend
from celery_batches import SimpleRequest

from hanzi_grader.errors import HanziError

logger = logging.getLogger(__name__)
# What a request is answered with: the error it failed with (or None), and its attempt as data.
JobResult = tuple[HanziError | None, dict[str, Any] | None]


def report(app: Celery, requests: Sequence[SimpleRequest],
           results: dict[str, JobResult]) -> None:
    """Store each request's own result in the result backend, where its producer waits.

    Never raises: the attempts are committed, and a lost result must not lose the batch.
    """
    wanted = [r for r in requests if not r.ignore_result]
    if isinstance(app.backend, RedisBackend):
        try:
            _report_pipelined(app.backend, wanted, results)
            return
        except Exception:  # e.g. Redis restarting: try again one by one, with Celery's retries
            logger.exception("could not store %d results at once; storing them one by one",
                             len(wanted))
    for request in wanted:
        report_one(app, request, results[request.id])


def report_one(app: Celery, request: SimpleRequest, result: JobResult) -> None:
    """Store one request's result through Celery's own calls."""
    error, value = result
    try:
        if error is None:
            app.backend.mark_as_done(request.id, value, request=request)
        else:
            # call_errbacks=False: batch requests carry no errbacks, and asking for them fails.
            app.backend.mark_as_failure(request.id, error, request=request, call_errbacks=False)
    except Exception:
        logger.exception("could not store the result of job %s", request.id)


def _report_pipelined(backend: RedisBackend, requests: Sequence[SimpleRequest],
                      results: dict[str, JobResult]) -> None:
    # What mark_as_done / mark_as_failure store, built the same way (Celery's own meta and
    # encoding), with their rule that a stored success is never overwritten.
    keys = [backend.get_key_for_task(r.id) for r in requests]
    current = backend.client.mget(keys) if keys else []
    with backend.client.pipeline(transaction=False) as pipe:
        for request, key, stored in zip(requests, keys, current, strict=True):
            if stored is not None and backend.decode(stored).get("status") == states.SUCCESS:
                continue
            error, value = results[request.id]
            state = states.SUCCESS if error is None else states.FAILURE
            result = backend.encode_result(value if error is None else error, state)
            meta = backend._get_result_meta(result=result, state=state, traceback=None,
                                            request=request)
            meta["task_id"] = request.id
            encoded = backend.encode(meta)
            if backend.expires:
                pipe.setex(key, backend.expires, encoded)
            else:
                pipe.set(key, encoded)
            pipe.publish(key, encoded)
        pipe.execute()


def announce(app: Celery, task_name: str, requests: Sequence[SimpleRequest],
             results: dict[str, JobResult], seconds: float) -> None:
    """Send task events, with the batch size, so that Flower shows each job of the batch.

    Celery's receivers (Flower's too) accept a list of events in one message, as a worker's
    own buffered task events are sent; the batch's events go as one.
    """
    if not app.conf.worker_send_task_events or not requests:
        return
    try:
        with app.amqp.producer_pool.acquire(block=True) as producer:
            dispatcher = app.events.Dispatcher(
                producer.connection, hostname=requests[0].hostname, channel=producer.channel,
                buffer_while_offline=False, buffer_group=["task"],
                buffer_limit=3 * len(requests) + 1)
            for request in requests:
                error, value = results[request.id]
                common = {"uuid": request.id, "batch_size": len(requests)}
                dispatcher.send("task-received", name=task_name, args="()", kwargs="{job}",
                                retries=0, eta=None, root_id=request.id, parent_id=None,
                                **common)
                dispatcher.send("task-started", **common)
                if error is None:
                    dispatcher.send("task-succeeded", result=repr(value.get("predicted")),
                                    runtime=seconds, **common)
                else:
                    dispatcher.send("task-failed", exception=repr(error), traceback="",
                                    **common)
            dispatcher.flush(errors=False)
    except Exception:  # events are for watching; never let them fail a batch
        logger.exception("could not send task events")
