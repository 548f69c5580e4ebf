"""The batch task called directly: results per request, idempotence, database outages."""

from __future__ import annotations

import pytest
from celery import states
from celery_batches import SimpleRequest
from hanzi_grader.worker import tasks
from hanzi_grader.worker.jobs import make_payload
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from hanzi_grader import database
from hanzi_grader.errors import InvalidImage
from hanzi_grader.schema import Attempt
from tests.worker.images import character_png


def request(job_id: str, image: bytes | None = None, **kwargs) -> SimpleRequest:
    image = character_png("永") if image is None else image
    payload = make_payload(image, job_id=job_id, student="s1", target="永")
    return SimpleRequest(id=job_id, name=tasks.GRADE_TASK, args=(),
                         kwargs={"job": payload, **kwargs}, delivery_info={},
                         hostname="test@host", ignore_result=False, reply_to=None,
                         correlation_id=None, request_dict={})


def stored(url: str) -> dict[str, Attempt]:
    with database.transaction(url) as session:
        return {a.job_id: a for a in session.scalars(select(Attempt))}


def test_each_request_gets_its_own_result(wired_tasks):
    backend = wired_tasks["backend"]

    tasks.handle_batch([request("a"), request("bad", b"not an image"), request("b")])

    assert backend.get_state("a") == backend.get_state("b") == states.SUCCESS
    assert backend.get_result("a")["verdict"] == "correct"
    assert backend.get_result("a")["batch_size"] == 3
    assert backend.get_state("bad") == states.FAILURE
    assert isinstance(backend.get_result("bad"), InvalidImage)
    rows = stored(wired_tasks["url"])
    assert {j: r.status for j, r in rows.items()} == {"a": "done", "b": "done", "bad": "failed"}


def test_a_redelivered_job_is_not_graded_again(wired_tasks):
    recognizer = wired_tasks["recognizer"]
    tasks.handle_batch([request("a")])

    # When the same job id comes again, alone and twice within one batch
    tasks.handle_batch([request("a")])
    tasks.handle_batch([request("a"), request("a"), request("b")])

    with database.transaction(wired_tasks["url"]) as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 2
    assert [len(c["images"]) for c in recognizer.calls] == [1, 1]  # a, then b only
    assert wired_tasks["backend"].get_result("a")["verdict"] == "correct"


def test_a_short_database_outage_is_retried_in_place(wired_tasks, monkeypatch):
    real_store, failures = tasks._store, []

    def flaky_store(outcomes):
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        return real_store(outcomes)

    monkeypatch.setattr(tasks, "_store", flaky_store)
    monkeypatch.setattr(tasks.with_db_retries, "__defaults__", ((0.01, 0.01, 0.01),))

    tasks.handle_batch([request("a"), request("b")])

    assert len(failures) == 2
    assert set(stored(wired_tasks["url"])) == {"a", "b"}
    assert wired_tasks["backend"].get_state("a") == states.SUCCESS


def test_a_long_outage_resends_the_jobs_under_the_same_ids(wired_tasks, monkeypatch):
    def down(_outcomes):
        raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))

    sent = []
    monkeypatch.setattr(tasks, "_store", down)
    monkeypatch.setattr(tasks.with_db_retries, "__defaults__", ((0.01,),))
    monkeypatch.setattr(tasks.grade_batch, "apply_async", lambda **kw: sent.append(kw))

    tasks.handle_batch([request("a"), request("b", redeliveries=3)])

    assert [(s["task_id"], s["kwargs"]["redeliveries"], s["countdown"]) for s in sent] == [
        ("a", 1, 1), ("b", 4, 8)]
    assert sent[0]["kwargs"]["job"]["job_id"] == "a"
    assert wired_tasks["backend"].get_state("a") == states.PENDING  # no result yet: retried


def test_an_unexpected_error_still_answers_every_request(wired_tasks, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ValueError("bug")

    monkeypatch.setattr(tasks.grading, "grade", broken)

    tasks.handle_batch([request("a"), request("b")])

    assert wired_tasks["backend"].get_state("a") == states.FAILURE
    assert "bug" in str(wired_tasks["backend"].get_result("b"))


def test_non_transient_database_errors_are_not_retried():
    calls = []

    def fails():
        calls.append(1)
        raise ValueError("not a database problem")

    with pytest.raises(ValueError):
        tasks.with_db_retries(fails, delays=(0.01, 0.01))
    assert len(calls) == 1


def test_an_unreachable_postgres_is_a_transient_error():
    # Given a Postgres URL where nothing listens
    from sqlalchemy import create_engine, text

    from hanzi_grader.errors import TransientError

    engine = create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    attempts = []

    def connect():
        attempts.append(1)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # When it is used through the retry helper, Then it is retried, then reported as transient
    with pytest.raises(TransientError, match="database unreachable"):
        tasks.with_db_retries(connect, delays=(0.01, 0.01))
    assert len(attempts) == 3


class FakeRequest:
    """What flush() uses of a worker Request: its task's acks_late, acknowledge, reject."""

    acknowledged = False
    message = None  # no broker channel: acknowledged one by one

    def __init__(self, acks_late: bool = True) -> None:
        self.task = type("Task", (), {"acks_late": acks_late})
        self.events: list = []

    def acknowledge(self) -> None:
        self.events.append("ack")

    def reject(self, requeue: bool = False) -> None:
        self.events.append(("reject", requeue))


class FakePool:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def apply_async(self, target, args, **callbacks):
        self.calls.append(callbacks)


@pytest.fixture
def flushing(monkeypatch):
    pool = FakePool()
    monkeypatch.setattr(tasks.grade_batch, "_pool", pool, raising=False)
    monkeypatch.setattr(tasks.SimpleRequest, "from_request", classmethod(lambda cls, r: r))
    return pool


def test_a_batch_is_acknowledged_when_its_pool_call_returns(flushing):
    requests = [FakeRequest(), FakeRequest()]
    tasks.grade_batch.flush(requests)

    flushing.calls[0]["callback"](None)

    assert [r.events for r in requests] == [["ack"], ["ack"]]


def test_a_batch_whose_pool_process_died_is_requeued_at_once(flushing):
    requests = [FakeRequest(), FakeRequest()]
    tasks.grade_batch.flush(requests)

    flushing.calls[0]["error_callback"](RuntimeError("WorkerLostError"))

    assert [r.events for r in requests] == [[("reject", True)], [("reject", True)]]
