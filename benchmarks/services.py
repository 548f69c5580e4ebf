"""The real services a benchmark runs on: a throwaway Postgres database, a Redis database,
`hanzi worker` processes, and a watcher that times each job's result as Redis publishes it.

Nothing here imports TensorFlow: the model runs only in the worker processes (and in
``benchmarks.forward``, which measures it on purpose).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from benchmarks import procfs

ROOT = Path(__file__).resolve().parent.parent
# Database 12: clear of the test suite's (5 and 6); flushed before and after each run.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
WORKER_START_TIMEOUT_S = 300
WORKER_STOP_TIMEOUT_S = 60
RESULT_CHANNELS = "celery-task-meta-*"


@contextmanager
def throwaway_database(admin_url: str = DEFAULT_POSTGRES_URL) -> Iterator[str]:
    """A new, migrated Postgres database for one benchmark run; dropped afterwards."""
    from hanzi_grader import database

    with database.scratch_database(admin_url, prefix="hanzi_bench") as url:
        database.upgrade(url)
        yield url


@contextmanager
def clean_redis(url: str = DEFAULT_REDIS_URL) -> Iterator[str]:
    """The Redis database at ``url``, flushed before and after."""
    client = redis.Redis.from_url(url)
    client.ping()
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def service_environment(*, redis_url: str, database_url: str, model_dir: Path,
                        home: Path, **settings: str) -> dict[str, str]:
    """The environment of a deployment: this one without HANZI_ settings, plus ``settings``
    (``flush_every="16"`` becomes ``HANZI_FLUSH_EVERY=16``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANZI_")}
    env |= {
        "HANZI_HOME": str(home),
        "HANZI_BROKER_URL": redis_url,
        "HANZI_DATABASE_URL": database_url,
        "HANZI_MODEL_DIR": str(model_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env |= {f"HANZI_{key.upper()}": str(value) for key, value in settings.items()}
    return env


@dataclass
class Worker:
    """A running worker: its parent process and its pool processes."""

    process: subprocess.Popen
    log: Path
    concurrency: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def pool_pids(self) -> list[int]:
        return procfs.children(self.pid)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of the parent and of each pool process, in MB."""
        sizes = {"parent": procfs.rss_mb(self.pid)}
        for index, pid in enumerate(self.pool_pids()):
            sizes[f"pool{index}"] = procfs.rss_mb(pid)
        return sizes

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the parent (the consumer) and by all pool processes."""
        return {"consumer": procfs.cpu_seconds(self.pid),
                "pool": sum(procfs.cpu_seconds(pid) for pid in self.pool_pids())}


@contextmanager
def running_worker(env: dict[str, str], log: Path, *, concurrency: int = 1,
                   command: list[str] | None = None) -> Iterator[Worker]:
    """Start a worker (`hanzi worker` unless ``command`` says otherwise), wait until every pool
    process has loaded the model, and stop it afterwards."""
    argv = command or [sys.executable, "-m", "hanzi_grader", "worker", "--no-migrate",
                       "-l", "info", "-n", f"bench{uuid.uuid4().hex[:6]}@%h"]
    argv = [*argv, f"--concurrency={concurrency}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as stream:
        # Its own session, so that it can be stopped with its pool processes, and only them.
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=stream,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    worker = Worker(process, log, concurrency)
    try:
        _wait_until_ready(worker)
        yield worker
    finally:
        stop(process)


def _wait_until_ready(worker: Worker) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while True:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.process.returncode}:\n"
                               f"{tail(worker.log)}")
        text_ = worker.log.read_text(errors="replace")
        if "could not load the model" in text_:
            raise RuntimeError(f"worker could not load the model:\n{tail(worker.log)}")
        if " ready." in text_ and text_.count("loaded in") >= worker.concurrency:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker not ready after {WORKER_START_TIMEOUT_S} s:\n"
                               f"{tail(worker.log)}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the worker's session (warm shutdown), SIGKILL it if it will not go."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ResultWatcher:
    """Records when each job's result appears: the worker publishes it after its commit.

    Subscribes to the Redis result backend's channels (it PUBLISHes every result it stores),
    so timing thousands of jobs costs no polling.
    """

    redis_url: str
    arrived: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._client = redis.Redis.from_url(self.redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(RESULT_CHANNELS)
        self._changed = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        prefix = len(RESULT_CHANNELS) - 1
        while self._running:
            message = self._pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            moment = time.time()
            job_id = message["channel"].decode()[prefix:]
            with self._changed:
                self.arrived.setdefault(job_id, moment)
                if b'"FAILURE"' in message["data"]:
                    self.failed.add(job_id)
                self._changed.notify_all()

    def wait_for(self, job_ids: list[str], timeout: float) -> dict[str, float]:
        """Arrival times of ``job_ids``; TimeoutError naming how many are missing."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                missing = [j for j in job_ids if j not in self.arrived]
                if not missing:
                    return {j: self.arrived[j] for j in job_ids}
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(missing)} of {len(job_ids)} results missing "
                                       f"after {timeout:g} s")
                self._changed.wait(min(left, 1.0))

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()


def redis_server_pid(url: str) -> int | None:
    """The pid of the Redis server at ``url`` when it runs on this machine."""
    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}").exists() else None


def count_rows(database_url: str, where: str = "true") -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(
                text(f"SELECT count(*) FROM attempts WHERE {where}")).scalar_one())
    finally:
        engine.dispose()
