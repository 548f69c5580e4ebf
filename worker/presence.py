"""Whether a worker runs on the embedded broker, which cannot answer Celery's ping.

A ``hanzi worker`` on the embedded broker holds a shared lock on ``HANZI_HOME/worker.lock``
for as long as it runs (the lock goes with the process, however it ends); a command that can
take the lock exclusively knows that no worker is running there.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hanzi_grader.settings import Settings


def lock_path(settings: Settings) -> Path:
    return settings.home / "worker.lock"


@contextmanager
def worker_lock(settings: Settings) -> Iterator[None]:
    """Held by a worker on the embedded broker while it runs (shared: many may hold it)."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield


def embedded_worker_running(settings: Settings) -> bool:
    """True when a worker on the embedded broker of ``settings`` holds the lock."""
    path = lock_path(settings)
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
