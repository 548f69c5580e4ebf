"""When the batching task hands a batch to the pool: at once when a process is idle, else when
the batch is full or the running batch returns."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hanzi_grader.worker.tasks import STALL_S, RequeueingBatches, holds_batch


class FakePool:
    """Records each batch handed over; ``finish()`` returns the oldest, as the pool would."""

    def __init__(self) -> None:
        self.running: list[dict] = []
        self.sizes: list[int] = []

    def apply_async(self, _target, args, **callbacks):
        requests = args[1][0]
        self.sizes.append(len(requests))
        self.running.append(callbacks)

    def finish(self) -> None:
        self.running.pop(0)["callback"](None)


def fake_request(job_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=job_id, name="hanzi.grade", _payload=((), {"job": {}}, {}), delivery_info={},
        hostname="test@host", reply_to=None, correlation_id=None, request_dict={}, eta=None,
        ignore_result=False, task=SimpleNamespace(acks_late=True), acknowledge=lambda: None,
        acknowledged=False, message=None,
    )


@pytest.fixture
def batches() -> tuple[RequeueingBatches, FakePool]:
    task = RequeueingBatches()
    task.flush_every, task.flush_interval = 4, 0.1
    task._pool = FakePool()
    return task, task._pool


def arrive(task: RequeueingBatches, *job_ids: str) -> None:
    for job_id in job_ids:  # what the strategy's handler does with each message
        task._buffer.put(fake_request(job_id))
        task._do_flush()


def test_a_lone_job_is_sent_at_once(batches):
    task, pool = batches
    arrive(task, "a")
    assert pool.sizes == [1]


def test_jobs_gather_while_the_model_is_busy_and_go_when_it_returns(batches):
    task, pool = batches
    arrive(task, "a", "b", "c")
    assert pool.sizes == [1]  # b and c wait for the running batch

    pool.finish()

    assert pool.sizes == [1, 2]


def test_a_full_batch_goes_even_while_the_model_is_busy(batches):
    task, pool = batches
    arrive(task, "a", *"bcde")
    assert pool.sizes == [1, 4]


def test_the_timer_does_not_cut_a_partial_batch_while_busy(batches):
    task, pool = batches
    arrive(task, "a", "b")
    task._do_flush()  # the flush_interval timer firing
    assert pool.sizes == [1]


@pytest.mark.parametrize(("buffered", "in_flight", "stalled_for", "holds"), [
    (0, 1, 0.0, False),          # nothing to send
    (3, 0, 0.0, False),          # an idle process: send now
    (3, 1, 0.0, True),           # busy, not full: gather
    (4, 1, 0.0, False),          # full: send
    (3, 1, STALL_S + 1, False),  # no progress for a long time: send anyway
])
def test_holds_batch(buffered, in_flight, stalled_for, holds):
    assert holds_batch(buffered=buffered, in_flight=in_flight, processes=1, flush_every=4,
                       stalled_for=stalled_for) is holds
