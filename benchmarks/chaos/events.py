"""The faults of a chaos run: which ones, when, and the thread that makes them happen.

Each fault is due at a random point of the run's progress (jobs sent plus attempts stored,
over twice the jobs), so faults are spread over the sending and the grading whatever the
machine's speed. A kill takes a worker that is ready (model loaded): a worker killed while it
loads holds no jobs, and tests nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.chaos.workers import ChaosWorker, Supervisor
from benchmarks.owned import OwnedPostgres, OwnedRedis

POOL_KILL, WORKER_KILL, REDIS_RESTART, POSTGRES_RESTART = (
    "pool-kill", "worker-kill", "redis-restart", "postgres-restart")
KILLS = (POOL_KILL, WORKER_KILL)
FIRST_AT, LAST_AT = 0.03, 0.9  # progress fractions between which the faults fall
GAP_S = (0.0, 1.0)  # a random pause before each fault, so that due faults do not coincide
READY_WAIT_S = 300


@dataclass(frozen=True)
class Fault:
    kind: str
    due_at: float  # fraction of the run's progress


def plan(*, kills: int, redis_restarts: int, postgres_restarts: int,
         rng: random.Random) -> list[Fault]:
    """The faults in the order they will happen: ``kills`` split at random between pool
    processes and whole workers (at least one of each when there are two or more)."""
    kinds = [POOL_KILL, WORKER_KILL][:kills]
    kinds += [rng.choice(KILLS) for _ in range(kills - len(kinds))]
    kinds += [REDIS_RESTART] * redis_restarts + [POSTGRES_RESTART] * postgres_restarts
    return sorted((Fault(kind, rng.uniform(FIRST_AT, LAST_AT)) for kind in kinds),
                  key=lambda fault: fault.due_at)


class Chaos:
    """Makes the planned faults happen, in a thread, as ``progress()`` passes each one."""

    def __init__(self, faults: list[Fault], *, progress: Callable[[], float],
                 supervisor: Supervisor, redis: OwnedRedis, postgres: OwnedPostgres,
                 rng: random.Random, say: Callable[[str], None]) -> None:
        self.pending = list(faults)
        self.progress, self.supervisor = progress, supervisor
        self.redis, self.postgres = redis, postgres
        self.rng, self.say = rng, say
        self.done: Counter[str] = Counter()
        self.history: list[tuple[float, str]] = []  # (time.time() as it began, what)
        self.forced = 0  # faults made after the queue had drained (progress stalled)
        self._force = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    @property
    def finished(self) -> bool:
        return not self.pending

    @property
    def worker_kills(self) -> int:
        return self.done[POOL_KILL] + self.done[WORKER_KILL]

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def force_remaining(self) -> None:
        """Make the faults still pending now: the jobs are all handled, progress will stop."""
        self._force.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while self.pending and not self._stopping.is_set():
            if not self._force.is_set() and self.progress() < self.pending[0].due_at:
                self._stopping.wait(0.1)
                continue
            self._stopping.wait(self.rng.uniform(*GAP_S))
            fault = self.pending[0]
            if self._make(fault.kind):
                self.pending.pop(0)
                self.done[fault.kind] += 1
                self.forced += self._force.is_set()

    def _make(self, kind: str) -> bool:
        """Cause one fault; False when it could not happen yet (no ready worker)."""
        began = time.time()
        what = self._cause(kind)
        if what is None:
            return False
        self.history.append((began, what))
        self.say(f"t={time.monotonic() - self._started:.1f}s {what}")
        return True

    def _cause(self, kind: str) -> str | None:
        if kind == REDIS_RESTART:
            self.redis.restart()
            return "Redis restarted (SIGTERM, append-only file reloaded)"
        if kind == POSTGRES_RESTART:
            self.postgres.restart()
            return "Postgres restarted (pg_ctl restart -m fast)"
        worker = self._ready_worker()
        if worker is None:
            return None
        with self.supervisor.lock:
            if not worker.alive():
                return None
            if kind == POOL_KILL:
                pid = worker.kill_pool_process(self.rng)
                return None if pid is None else (
                    f"SIGKILL pool process {pid} of worker {worker.index}")
            pid = worker.kill_whole(self.rng)
            return f"SIGKILL worker {worker.index} (pid {pid}) with its pool"

    def _ready_worker(self) -> ChaosWorker | None:
        deadline = time.monotonic() + READY_WAIT_S
        while not self._stopping.is_set():
            ready = [w for w in self.supervisor.workers if w.ready()]
            if ready:
                return self.rng.choice(ready)
            if time.monotonic() > deadline:
                self.say(f"no worker ready for {READY_WAIT_S} s; a kill is skipped for now")
                return None
            time.sleep(0.2)
        return None
