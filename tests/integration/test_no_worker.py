"""No worker running: commands that wait for grades say so at once on a real broker, and
start a worker of their own on the embedded one (`test_embedded.py`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
import redis
from hanzi_grader.worker.app import GRADE_QUEUE
from hanzi_grader.worker.presence import embedded_worker_running, worker_lock

from hanzi_grader.settings import PACKAGE_ROOT, Settings
from tests.integration.conftest import clean_environment, hanzi

pytestmark = pytest.mark.integration

# A database of its own: no worker of another test listens there.
IDLE_REDIS_URL = os.environ.get("HANZI_TEST_IDLE_REDIS_URL", "redis://127.0.0.1:6379/7")
SHEET = PACKAGE_ROOT / "examples" / "sheets" / "li-ming_week3.jpg"
LAYOUT = PACKAGE_ROOT / "examples" / "sheets" / "week3.layout.toml"
PROMPT_S = 30


@pytest.fixture
def idle_redis() -> Iterator[redis.Redis]:
    """The idle Redis database, empty before and after."""
    client = redis.Redis.from_url(IDLE_REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {IDLE_REDIS_URL}: {error}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_env(tmp_path, idle_redis) -> dict[str, str]:
    """A fresh home, the idle Redis as broker, the embedded SQLite database."""
    return clean_environment(tmp_path / "home") | {"HANZI_BROKER_URL": IDLE_REDIS_URL}


@pytest.mark.parametrize("command", [
    ["submit", str(PACKAGE_ROOT / "examples" / "an-安.png"), "--student", "s", "--wait"],
    ["grade-sheet", str(SHEET), "--layout", str(LAYOUT), "--json"],
])
def test_waiting_with_no_worker_on_redis_fails_fast_naming_the_worker_command(
        redis_env, idle_redis, tmp_path, command):
    started = time.monotonic()

    done = hanzi(*command, "--timeout", "600", env=redis_env, cwd=tmp_path, check=False,
                 timeout=PROMPT_S + 30)

    assert time.monotonic() - started < PROMPT_S
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Error: no worker is consuming from the broker at redis://127.0.0.1:6379/7" \
        in done.stderr
    assert "start one with `hanzi worker`" in done.stderr
    assert "Traceback" not in done.stderr
    assert idle_redis.llen(GRADE_QUEUE) == 0  # nothing left queued for a worker to find later


def test_submit_without_wait_queues_the_job_for_a_later_worker(redis_env, idle_redis):
    done = hanzi("submit", str(PACKAGE_ROOT / "examples" / "an-安.png"), "--student", "s",
                 env=redis_env)

    assert done.returncode == 0 and len(done.stdout.split()) == 2  # job id, path
    assert idle_redis.llen(GRADE_QUEUE) == 1
    # and `hanzi status` shows it waiting, with no worker to take it
    status = json.loads(hanzi("status", "--json", env=redis_env).stdout)
    assert status == {"broker": IDLE_REDIS_URL, "database": status["database"], "workers": [],
                      "queued": 1}


def test_a_worker_on_the_embedded_broker_is_seen_through_its_lock(tmp_path):
    settings = Settings(home=tmp_path)
    assert not embedded_worker_running(settings)

    with worker_lock(settings), worker_lock(settings):  # shared: several workers may run
        assert embedded_worker_running(settings)

    assert not embedded_worker_running(settings)
