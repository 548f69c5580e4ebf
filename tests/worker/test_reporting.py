"""A batch's results and events, written in one go to the real Redis, read back as Celery's."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import redis
from celery import Celery, states
from celery.result import AsyncResult
from celery_batches import SimpleRequest
from hanzi_grader.worker import reporting

from hanzi_grader.errors import InvalidImage

REDIS_URL = os.environ.get("HANZI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def redis_app():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    app = Celery("reporting-test", broker=REDIS_URL, backend=REDIS_URL)
    app.conf.update(result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], worker_send_task_events=True,
                    event_serializer="json")
    yield app
    app.close()


def request(job_id: str) -> SimpleRequest:
    return SimpleRequest(id=job_id, name="hanzi.grade", args=(), kwargs={}, delivery_info={},
                         hostname="test@host", ignore_result=False, reply_to=None,
                         correlation_id=None, request_dict={})


def test_a_batch_of_results_reads_back_as_celery_stored_them(redis_app):
    done, bad = f"done-{uuid.uuid4().hex}", f"bad-{uuid.uuid4().hex}"
    results = {done: (None, {"job_id": done, "verdict": "correct"}),
               bad: (InvalidImage(f"job {bad}: not an image"), None)}

    reporting.report(redis_app, [request(done), request(bad)], results)

    assert AsyncResult(done, app=redis_app).get(timeout=5) == results[done][1]
    failed = AsyncResult(bad, app=redis_app)
    assert failed.state == states.FAILURE
    assert isinstance(failed.result, InvalidImage) and bad in str(failed.result)


def test_the_same_meta_as_mark_as_done(redis_app):
    ours, celerys = f"ours-{uuid.uuid4().hex}", f"celery-{uuid.uuid4().hex}"
    value = {"verdict": "correct", "candidates": [{"char": "永", "confidence": 0.9}]}

    reporting.report(redis_app, [request(ours)], {ours: (None, value)})
    redis_app.backend.mark_as_done(celerys, value, request=request(celerys))

    def meta(job_id: str) -> dict:
        found = redis_app.backend.get_task_meta(job_id)
        return {k: v for k, v in found.items() if k not in ("task_id", "date_done")}

    assert meta(ours) == meta(celerys)


def test_a_stored_success_is_never_overwritten(redis_app):
    job_id = f"twice-{uuid.uuid4().hex}"
    reporting.report(redis_app, [request(job_id)], {job_id: (None, {"verdict": "correct"})})

    reporting.report(redis_app, [request(job_id)],
                     {job_id: (InvalidImage("a late duplicate"), None)})

    assert AsyncResult(job_id, app=redis_app).get(timeout=5) == {"verdict": "correct"}


def test_a_batch_of_events_arrives_as_one_event_per_job_and_kind(redis_app):
    events: list[dict] = []
    jobs = [f"event-{i}-{uuid.uuid4().hex}" for i in range(3)]
    results = {j: (None, {"predicted": "永"}) for j in jobs}
    with redis_app.connection_for_read() as connection:
        receiver = redis_app.events.Receiver(connection, handlers={"*": events.append})
        thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False},
                                  daemon=True)
        patterns = _patterns()
        thread.start()
        try:
            # kombu's fanout on Redis is a PSUBSCRIBE: events sent before it are lost.
            wait_until(lambda: _patterns() > patterns, "the subscription")
            reporting.announce(redis_app, "hanzi.grade", [request(j) for j in jobs], results,
                               0.05)
            wait_until(lambda: sum(e["type"] == "task-succeeded" for e in events) == 3,
                       "3 task-succeeded events")
        finally:
            receiver.should_stop = True
            thread.join(timeout=10)

    kinds = {(e["uuid"], e["type"]) for e in events if e.get("uuid") in jobs}
    assert kinds == {(j, k) for j in jobs
                     for k in ("task-received", "task-started", "task-succeeded")}
    assert all(e["batch_size"] == 3 for e in events if e.get("uuid") in jobs)


def _patterns() -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return client.pubsub_numpat()
    finally:
        client.close()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
