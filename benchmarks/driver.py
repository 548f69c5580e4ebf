"""Driving the real pipeline: a deployment on Redis and Postgres, and timed pushes of jobs.

``deployment(...)`` makes a throwaway database, flushes the benchmark's Redis database, and
points this process's settings at both, so that ``producer.client`` (imported afterwards)
submits where the workers listen. ``push`` submits N jobs with ``submit_many`` and times them
to their published results, while charging CPU time to each component of the path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import procfs
from benchmarks.services import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    ResultWatcher,
    Worker,
    clean_redis,
    redis_server_pid,
    running_worker,
    service_environment,
    throwaway_database,
)

RESULT_TIMEOUT_S = 900


@dataclass
class Deployment:
    """Redis, a throwaway Postgres database and the environment workers are started with."""

    env: dict[str, str]
    redis_url: str
    database_url: str
    model_dir: Path
    logs: Path
    watcher: ResultWatcher

    def worker(self, name: str, *, concurrency: int = 1, command: list[str] | None = None,
               **settings: str):
        """A running worker (context manager) on this deployment; ``settings`` as HANZI_*."""
        env = self.env | {f"HANZI_{k.upper()}": str(v) for k, v in settings.items()}
        return running_worker(env, self.logs / f"{name}.log", concurrency=concurrency,
                              command=command)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small counts and short runs, for development")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="model bundle [default: HANZI_MODEL_DIR, else the shipped one]")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="a Redis database the benchmark may flush")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="Postgres, as a user who may create databases")


@contextmanager
def deployment(args: argparse.Namespace) -> Iterator[Deployment]:
    """Set up the services from the parsed ``common_arguments``; tear them down after."""
    from hanzi_grader.settings import SHIPPED_MODEL_DIR

    model_dir = (args.model_dir or Path(os.environ.get("HANZI_MODEL_DIR", SHIPPED_MODEL_DIR)))
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hanzi-bench-")))
        redis_url = stack.enter_context(clean_redis(args.redis_url))
        database_url = stack.enter_context(throwaway_database(args.postgres_url))
        env = service_environment(redis_url=redis_url, database_url=database_url,
                                  model_dir=model_dir.resolve(), home=home)
        _use_in_this_process(env)
        watcher = ResultWatcher(redis_url)
        stack.callback(watcher.close)
        yield Deployment(env, redis_url, database_url, model_dir.resolve(), home / "logs",
                         watcher)


def _use_in_this_process(env: dict[str, str]) -> None:
    # The producer's Celery app reads the settings when worker.app is first imported.
    import sys

    from hanzi_grader.settings import get_settings

    if "hanzi_grader.worker.app" in sys.modules:
        raise RuntimeError("worker.app was imported before the deployment was set up")
    os.environ.update({k: v for k, v in env.items() if k.startswith("HANZI_")})
    get_settings.cache_clear()


@dataclass
class CpuMeter:
    """CPU seconds spent by each part of the path between ``start()`` and ``stop()``."""

    deployment: Deployment
    worker: Worker

    def _snapshot(self) -> dict[str, Any]:
        redis_pid = redis_server_pid(self.deployment.redis_url)
        return {
            **self.worker.cpu_seconds(),
            "redis": procfs.cpu_seconds(redis_pid) if redis_pid else float("nan"),
            "postgres": {pid: procfs.cpu_seconds(pid) for pid in procfs.pids_named("postgres")},
        }

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self) -> dict[str, float]:
        after, before = self._snapshot(), self._before
        spent = {key: after[key] - before[key] for key in ("consumer", "pool", "redis")}
        # A backend that exited meanwhile took its time with it; new ones started from zero.
        spent["postgres"] = sum(after["postgres"].get(pid, used) - used
                                for pid, used in before["postgres"].items())
        spent["postgres"] += sum(used for pid, used in after["postgres"].items()
                                 if pid not in before["postgres"])
        return spent


@dataclass
class Push:
    """One timed push of jobs through the pipeline."""

    count: int
    seconds: float  # first submission to last published result
    submit_seconds: float  # the producer's time to send them all
    producer_cpu: float  # CPU seconds of the submitting thread
    cpu: dict[str, float]
    latencies: list[float]  # per job, seconds
    batch_sizes: dict[int, int]  # batch size -> jobs graded in batches of that size
    recognize_seconds: float  # summed model time (decode+preprocess+forward) of its batches

    @property
    def images_per_s(self) -> float:
        return self.count / self.seconds

    def per_job_ms(self) -> dict[str, float]:
        costs = {"producer": self.producer_cpu, **self.cpu, "model": self.recognize_seconds}
        return {key: 1000 * value / self.count for key, value in costs.items()}


def push(deployment: Deployment, worker: Worker, images: list[bytes], *, label: str,
         task: str | None = None, queue: str | None = None) -> Push:
    """Submit ``images`` as jobs and wait for every result.

    Jobs go through ``producer.client.submit_many`` (one broker connection), or, when ``task``
    is given, the same payloads to that task on ``queue`` (the plain-task comparison).
    """
    job_ids = [f"{label}-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(images))]
    meter = CpuMeter(deployment, worker)
    meter.start()
    sent: dict[str, float] = {}
    started = time.time()
    cpu_started = time.thread_time()
    _send(images, job_ids, label=label, task=task, queue=queue,
          on_submitted=lambda job_id: sent.__setitem__(job_id, time.time()))
    producer_cpu = time.thread_time() - cpu_started
    submitted = time.time()
    arrived = deployment.watcher.wait_for(job_ids, timeout=RESULT_TIMEOUT_S)
    finished = max(arrived.values())
    cpu = meter.stop()
    failed = [j for j in job_ids if j in deployment.watcher.failed]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(job_ids)} jobs failed, e.g. {failed[0]}")
    sizes, recognize_s = _batches(deployment.database_url, label)
    return Push(len(images), finished - started, submitted - started, producer_cpu, cpu,
                [arrived[j] - sent[j] for j in job_ids], sizes, recognize_s)


def _send(images: list[bytes], job_ids: list[str], *, label: str, task: str | None,
          queue: str | None, on_submitted) -> None:
    from hanzi_grader.producer import client

    if task is None:
        client.submit_many(images, student=label, job_ids=job_ids, on_submitted=on_submitted)
        return
    from hanzi_grader.worker.app import app
    from hanzi_grader.worker.jobs import make_payload

    with app.producer_or_acquire() as producer:  # as submit_many does, to another task
        for image, job_id in zip(images, job_ids, strict=True):
            app.send_task(task, kwargs={"job": make_payload(image, job_id=job_id,
                                                            student=label)},
                          task_id=job_id, queue=queue, producer=producer)
            on_submitted(job_id)


def _batches(database_url: str, student: str) -> tuple[dict[int, int], float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT batch_size, count(*), sum(recognize_ms / batch_size) FROM attempts "
                "WHERE student_id = :s GROUP BY batch_size"), {"s": student}).all()
    finally:
        engine.dispose()
    sizes = {int(size): int(n) for size, n, _ in rows}
    return sizes, sum(float(ms or 0) for *_, ms in rows) / 1000


def warm_up(deployment: Deployment, worker: Worker, count: int = 64) -> None:
    """Grade a few jobs so that every pool process has traced its model for real batches."""
    from benchmarks import inputs

    push(deployment, worker, inputs.images(count * worker.concurrency), label="warmup")


def sampled_peak_rss(worker: Worker, stop: threading.Event, peaks: dict[str, float],
                     interval: float = 0.25) -> None:
    """Record the highest RSS of each worker process until ``stop`` is set (run in a thread)."""
    while not stop.wait(interval):
        for name, mb in worker.rss_mb().items():
            peaks[name] = max(peaks.get(name, 0.0), mb)
