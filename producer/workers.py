"""Will anything grade the jobs a command sends? Find a consuming worker, or start one.

On a real broker (Redis) workers answer Celery's broadcast ping, so a command that waits for
results asks first and, with no answer, says at once which command starts a worker instead of
waiting out its timeout. The embedded SQLite broker cannot broadcast; a worker there holds a
lock instead (``worker.presence``), and a command that finds none running starts a worker of
its own for as long as it runs, as ``hanzi demo`` does, so one command grades on one machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from hanzi_grader.worker.presence import embedded_worker_running

from hanzi_grader.settings import get_settings, redact_url

PING_TIMEOUT_S = 3.0  # a prefork worker's main process answers at once, even mid-batch
WORKER_STOP_TIMEOUT_S = 30
START_HINT = "start one with `hanzi worker` (in another terminal or on another machine)"


class NoWorker(click.ClickException):
    """A real broker, and no worker consuming its queue."""


def broker_workers(timeout: float = PING_TIMEOUT_S) -> list[str]:
    """The names of the workers that answer a ping on the configured (real) broker."""
    from hanzi_grader.worker.app import app

    replies = app.control.ping(timeout=timeout, limit=1)
    return [name for reply in replies for name in reply]


def queued_jobs() -> int:
    """How many jobs wait in the grading queue, not yet taken by a worker (on either broker)."""
    from hanzi_grader.worker.app import GRADE_QUEUE, app

    with app.connection_for_write() as connection:
        try:
            return connection.default_channel.queue_declare(GRADE_QUEUE, passive=True).message_count
        except connection.channel_errors:
            return 0  # never declared: no job was ever sent


def queue_consumers(timeout: float = PING_TIMEOUT_S) -> list[str]:
    """The workers consuming the grading queue on the configured (real) broker. Slower than
    ``broker_workers`` (it waits out ``timeout``), but a webhook worker, which answers pings
    too, grades nothing and is left out."""
    from hanzi_grader.worker.app import GRADE_QUEUE, app

    queues = app.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(name for name, consumed in queues.items()
                  if any(queue.get("name") == GRADE_QUEUE for queue in consumed))


def workers_running() -> list[str]:
    """The workers grading now: names on a real broker, ``embedded`` for the local one."""
    settings = get_settings()
    if settings.embedded:
        return ["embedded"] if embedded_worker_running(settings) else []
    return queue_consumers()


@contextmanager
def grading_workers(log_path: Path) -> Iterator[subprocess.Popen | None]:
    """Make sure a worker will grade the jobs sent inside the block.

    Yields the worker started for this command (embedded broker, none running; it logs to
    ``log_path`` and is stopped when the block ends), or None when a worker is already
    consuming. On a real broker with no worker, raises ``NoWorker``, which names the command
    that starts one.
    """
    settings = get_settings()
    if not settings.embedded:
        if not broker_workers():
            raise NoWorker(f"no worker is consuming from the broker at "
                           f"{redact_url(settings.effective_broker_url)} (none answered a ping "
                           f"within {PING_TIMEOUT_S:g} s); {START_HINT}")
        yield None
        return
    if embedded_worker_running(settings):
        yield None
        return
    click.echo(f"no worker running: starting one for this command (log {log_path})",
               err=True)
    with running_worker(log_path) as process:
        yield process


@contextmanager
def running_worker(log_path: Path) -> Iterator[subprocess.Popen]:
    """A `hanzi worker` subprocess, logging to ``log_path``, stopped when the block ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hanzi_grader", "worker", "--no-migrate", "-l", "info"],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
        )
    try:
        yield process
    finally:
        stop_worker(process)


def stop_worker(process: subprocess.Popen) -> None:
    """Ask a worker to finish its batch and exit (SIGTERM); kill it if it will not."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(WORKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
