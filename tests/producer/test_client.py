"""The client refuses what the worker would refuse, before anything reaches the broker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hanzi_grader.producer import client

from hanzi_grader.errors import InvalidImage, InvalidJob, InvalidTarget
from hanzi_grader.settings import Settings


@pytest.fixture
def small_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(client, "get_settings", lambda: Settings(home=tmp_path,
                                                                 max_image_bytes=10))


def test_read_image_takes_bytes_and_paths(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG....")
    assert client.read_image(path) == client.read_image(str(path)) == b"\x89PNG...."
    assert client.read_image(b"abc") == b"abc"


@pytest.mark.usefixtures("small_limit")
@pytest.mark.parametrize(
    ("image", "says"),
    [(b"", "image bytes is empty"), (b"x" * 11, "11 bytes, over the limit of 10 bytes")],
)
def test_read_image_refuses_empty_and_oversized_images(image, says):
    with pytest.raises(InvalidImage, match=says):
        client.read_image(image)


def test_read_image_names_a_missing_file(tmp_path):
    with pytest.raises(InvalidImage, match=r"missing\.png"):
        client.read_image(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"student": ""}, InvalidJob, "student must be a non-empty string"),
        ({"student": "s", "target": "x"}, InvalidTarget, "'x' is not one of the 3755"),
        ({"student": "s", "top_n": 0}, InvalidJob, "top_n must be an integer 1..100, got 0"),
        ({"student": "s", "job_ids": ["a", "b"]}, InvalidJob, "1 images but 2 job ids"),
    ],
)
def test_submit_many_checks_its_options_before_sending(options, error, says, monkeypatch):
    monkeypatch.setattr(client.app, "send_task", lambda *a, **k: pytest.fail("sent"))
    with pytest.raises(error, match=says):
        client.submit_many([b"image"], **options)


def test_submit_sends_json_by_task_name_under_the_job_id(monkeypatch):
    sent = []
    monkeypatch.setattr(client.app, "send_task", lambda name, **kw: sent.append((name, kw)))

    job_id = client.submit(b"image", student="s1", target="永", job_id="mine", cell=(1, 2))

    assert job_id == "mine"
    [(name, options)] = sent
    assert name == "hanzi.grade" and options["task_id"] == "mine"
    assert options["kwargs"]["job"]["cell"] == [1, 2]
    assert options["kwargs"]["job"]["image"] == "aW1hZ2U="  # base64 of b"image"


def test_submit_jobs_sends_each_job_with_its_own_fields(monkeypatch):
    sent = []
    monkeypatch.setattr(client.app, "send_task", lambda name, **kw: sent.append(kw))

    ids = client.submit_jobs([client.Job(b"a", student="s1", target="永", job_id="j1"),
                              client.Job(b"b", student="s2", top_n=3)], tenant=7)

    assert ids[0] == "j1" and len(ids[1]) == 32
    jobs = [options["kwargs"]["job"] for options in sent]
    assert [(j["student"], j["target"], j["top_n"], j["tenant"]) for j in jobs] == [
        ("s1", "永", 5, 7), ("s2", None, 3, 7)]
    assert [options["task_id"] for options in sent] == ids


@pytest.mark.usefixtures("small_limit")
@pytest.mark.parametrize(("second", "error"), [
    (client.Job(b"b", student="s", target="x"), InvalidTarget),
    (client.Job(b"b" * 11, student="s"), InvalidImage),
])
def test_submit_jobs_sends_nothing_when_one_job_is_bad(second, error, monkeypatch):
    monkeypatch.setattr(client.app, "send_task", lambda *a, **k: pytest.fail("sent"))
    with pytest.raises(error):
        client.submit_jobs([client.Job(b"a", student="s"), second])


def test_importing_the_client_never_imports_tensorflow():
    code = ("import sys, hanzi_grader.producer.client, hanzi_grader.producer.cli; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def memory_backend(monkeypatch):
    from celery.backends.cache import CacheBackend

    backend = CacheBackend(app=client.app, url="memory://")
    backend.client.cache.clear()
    monkeypatch.setattr(type(client.app), "backend", property(lambda _self: backend))
    return backend


def test_result_returns_a_graded_job_as_stored(memory_backend):
    memory_backend.mark_as_done("j1", {"job_id": "j1", "status": "done", "predicted": "永"})
    assert client.result("j1", 1)["predicted"] == "永"


def test_result_turns_a_failed_job_into_a_failed_outcome(memory_backend):
    memory_backend.mark_as_failure("j2", InvalidImage("job j2: no ink found"),
                                   call_errbacks=False)
    assert client.result("j2", timeout=1) == {
        "job_id": "j2", "status": "failed", "error": "job j2: no ink found",
        "error_type": "InvalidImage"}


def test_result_gives_up_after_the_timeout_naming_the_job(memory_backend):
    with pytest.raises(client.ResultTimeout, match=r"job j3: no result after 0\.3 s"):
        client.result("j3", timeout=0.3)


@pytest.fixture
def redis_backend(monkeypatch):
    import redis
    from celery.backends.redis import RedisBackend

    from tests.integration.conftest import REDIS_URL

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    backend = RedisBackend(app=client.app, url=REDIS_URL)
    monkeypatch.setattr(type(client.app), "backend", property(lambda _self: backend))
    yield backend
    backend.result_consumer.stop()


def test_result_finds_a_stored_result_whose_publication_it_missed(redis_backend):
    import threading
    import uuid

    # Given a result stored (SET, no PUBLISH) while the client already waits for it
    job_id = f"missed-{uuid.uuid4().hex}"
    key = redis_backend.get_key_for_task(job_id)
    meta = {"status": "SUCCESS", "result": {"job_id": job_id, "status": "done"},
            "traceback": None, "children": [], "task_id": job_id}
    store = threading.Timer(0.5, redis_backend.client.set, (key, redis_backend.encode(meta)))
    store.start()
    try:
        # When it waits, Then it finds the result anyway, well before its timeout
        assert client.result(job_id, timeout=30)["status"] == "done"
    finally:
        store.join()
        redis_backend.client.delete(key)
