"""A real Celery worker process on the real Redis and Postgres, for the integration tests.

Redis database 5 is flushed before and after; Postgres gets a throwaway database for the
session. The worker runs the tiny untrained bundle (``tiny_bundle``) so that it starts fast.
Every wait has a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hanzi_grader.producer.workers import stop_worker
from sqlalchemy import create_engine, text

from tests.hanzi_grader.databases import throwaway_postgres_database
from tests.integration.owned import (  # noqa: F401  fixtures
    owned_aof_redis,
    owned_postgres,
    owned_redis,
)

REDIS_URL = os.environ.get("HANZI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
WORKER_START_TIMEOUT_S = 240
ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str,
             interval: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def hanzi(*args: str, env: dict[str, str], timeout: float = 180, check: bool = True,
          cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the `hanzi` command in its own process, as a user or a producer would."""
    done = subprocess.run([sys.executable, "-m", "hanzi_grader", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"hanzi {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def json_lines(text: str) -> list[dict]:
    """The objects of a command's JSON Lines output (the convention of every --json)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def queue_drained(redis_url: str) -> bool:
    """True when no job waits in the queue, in flight or delivered but unacknowledged."""
    from hanzi_grader.worker.app import GRADE_QUEUE
    from hanzi_grader.worker.reliable_fetch import nothing_pending

    client = redis.Redis.from_url(redis_url)
    try:
        return nothing_pending(client, GRADE_QUEUE)
    finally:
        client.close()


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without any HANZI_ setting, at a fresh HANZI_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANZI_")}
    env |= {"HANZI_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return env


@pytest.fixture(scope="session")
def model_dir(request) -> Path:
    try:
        return Path(request.getfixturevalue("tiny_bundle"))
    except pytest.FixtureLookupError:
        pytest.skip("needs the tiny_bundle fixture (tests/conftest.py)")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from throwaway_postgres_database()


@pytest.fixture(scope="session")
def service_env(tmp_path_factory, redis_url, postgres_url, model_dir) -> dict[str, str]:
    """The environment of a deployment on Redis and Postgres, migrated by `hanzi db upgrade`."""
    env = clean_environment(tmp_path_factory.mktemp("hanzi-home"))
    env |= {
        "HANZI_BROKER_URL": redis_url,
        "HANZI_DATABASE_URL": postgres_url,
        "HANZI_MODEL_DIR": str(model_dir),
        "HANZI_FLUSH_EVERY": "32",
        "HANZI_FLUSH_INTERVAL": "0.25",
        "HANZI_VISIBILITY_TIMEOUT": "60",
    }
    hanzi("db", "upgrade", env=env)
    return env


@pytest.fixture(scope="session")
def worker(service_env, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A `hanzi worker` process on the service environment, ready (model loaded)."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(service_env, log_path)
    try:
        wait_until_ready(process, log_path)
        yield {"process": process, "log": log_path}
    finally:
        stop_worker(process)


def start_worker(env: dict[str, str], log_path: Path, *,
                 new_session: bool = False) -> subprocess.Popen:
    """Start `hanzi worker` in its own process, logging to ``log_path``.

    ``new_session``: in a session of its own, so that ``os.killpg`` reaches its pool processes.
    """
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hanzi_grader", "worker", "--no-migrate", "-l", "info",
             "-n", "itest@%h"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def wait_until_ready(process: subprocess.Popen, log_path: Path) -> None:
    """Wait until the worker has loaded its model; fail with its log if it dies first."""

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{_tail(log_path)}")
        log = log_path.read_text(errors="replace")
        if "could not load the model" in log:
            pytest.fail(f"worker could not load the model:\n{_tail(log_path)}")
        return "loaded in" in log and "ready." in log

    wait_for(ready, timeout=WORKER_START_TIMEOUT_S, what="the worker to load its model")


@pytest.fixture(scope="session")
def rows(postgres_url) -> Iterator[Callable[..., list[dict]]]:
    """``rows(sql_where, **params)``: the attempts rows matching a WHERE clause, as dicts."""
    engine = create_engine(postgres_url)

    def query(where: str = "true", **params: Any) -> list[dict]:
        with engine.connect() as connection:
            result = connection.execute(
                text(f"SELECT * FROM attempts WHERE {where} ORDER BY created_at, id"), params)
            return [dict(row._mapping) for row in result]

    yield query
    engine.dispose()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
