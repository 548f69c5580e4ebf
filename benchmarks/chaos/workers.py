"""The chaos run's workers: `hanzi worker` processes that can be killed, whole or by their pool
process, and a supervisor that brings a killed whole worker back after a short pause, as a
process manager (systemd, Kubernetes) would."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import procfs
from benchmarks.services import ROOT, WORKER_STOP_TIMEOUT_S

RESTART_PAUSE_S = (0.5, 3.0)  # how long a killed whole worker stays down, at random


class ChaosWorker:
    """One worker slot: the current `hanzi worker` process (concurrency 1) and its log."""

    def __init__(self, index: int, env: dict[str, str], logs: Path) -> None:
        self.index, self.env, self.logs = index, env, logs
        self.generation = 0
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None
        self.model_loads_expected = 1  # one per pool process started, the killed ones' too
        self.restart_at: float | None = None

    def start(self) -> None:
        self.generation += 1
        self.model_loads_expected = 1
        self.restart_at = None
        self.log = self.logs / f"worker{self.index}-{self.generation}.log"
        with self.log.open("wb") as stream:
            # Its own session: os.killpg then reaches its pool process, and only it.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hanzi_grader", "worker", "--no-migrate", "-l", "info",
                 "-n", f"chaos{self.index}-{self.generation}@%h", "--concurrency=1"],
                env=self.env, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT,
                start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        """Alive, consuming, and its current pool process has loaded the model."""
        if not self.alive() or self.log is None:
            return False
        text = self.log.read_text(errors="replace")
        return " ready." in text and text.count("loaded in") >= self.model_loads_expected

    def pool_pids(self) -> list[int]:
        return procfs.children(self.process.pid) if self.alive() else []

    def kill_pool_process(self, rng: random.Random) -> int | None:
        """SIGKILL one pool process (the worker starts another); its pid, or None."""
        pids = self.pool_pids()
        if not pids:
            return None
        pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.model_loads_expected += 1
        return pid

    def kill_whole(self, rng: random.Random) -> int:
        """SIGKILL the main process and its pool; the supervisor restarts it after a pause."""
        pid = self.process.pid
        os.killpg(pid, signal.SIGKILL)
        self.process.wait()
        self.restart_at = time.monotonic() + rng.uniform(*RESTART_PAUSE_S)
        return pid

    def stop(self) -> None:
        """SIGTERM (warm shutdown), SIGKILL if it will not go."""
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Supervisor:
    """Keeps every worker slot running: restarts a killed worker once its pause is over, and
    one that died of itself at once (saying so)."""

    def __init__(self, workers: list[ChaosWorker], say: Callable[[str], None]) -> None:
        self.workers = workers
        self.say = say
        self.lock = threading.Lock()  # the chaos thread kills under it, this thread restarts
        self.unexpected_exits = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            with self.lock:
                for worker in self.workers:
                    if worker.alive():
                        continue
                    if worker.restart_at is None:  # not killed by us
                        self.unexpected_exits += 1
                        self.say(f"worker {worker.index} exited by itself with "
                                 f"{worker.process.returncode}; restarting it (log {worker.log})")
                    elif time.monotonic() < worker.restart_at:
                        continue
                    worker.start()

    def wait_until_all_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(w.ready() for w in self.workers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers not ready after {timeout:g} s; logs in "
                                   f"{self.workers[0].logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        for worker in self.workers:
            worker.stop()
