"""One chaos run, from its own servers to its count (see ``benchmarks/chaos/__init__.py``)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos import events, producer, tally
from benchmarks.chaos.workers import ChaosWorker, Supervisor
from benchmarks.owned import POSTGRES_BIN, OwnedPostgres, OwnedRedis, free_port
from benchmarks.services import ROOT, WORKER_START_TIMEOUT_S, service_environment

JOB_PREFIX = "chaos"
DRAINED_FOR_S = 5.0  # the broker must hold nothing for this long before the run ends
SHOWN_IDS = 20
# Sending lasts about this long per kill, unless a rate is given: a killed worker is back in
# 10-20 s (TensorFlow and the model load again), and a kill must find a ready worker with jobs.
SENDING_S_PER_KILL = 8.0
MIN_SENDING_S = 30.0


@dataclass
class ChaosConfig:
    """The size of a run. ``timeout``: how long the jobs may take to drain once sent."""

    model_dir: Path
    jobs: int = 10_000
    producers: int = 2
    workers: int = 2
    kills: int = 20
    redis_restarts: int = 3
    postgres_restarts: int = 3
    rate: float | None = None  # jobs per second, all producers; None: see SENDING_S_PER_KILL
    seed: int | None = None
    timeout: float = 600.0
    visibility_timeout: int = 20
    logs: Path | None = None  # kept there; else a temporary folder, kept only after a loss


@dataclass
class Producers:
    """The producer processes, and what they say on stdout (read by a thread each)."""

    processes: list[subprocess.Popen]
    sent: list[int]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(p.poll() is not None for p in self.processes)

    def total(self) -> int:
        """Jobs sent or given up, so far."""
        return sum(self.sent) + len(self.failed)


def run(config: ChaosConfig, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run the chaos and return its summary: the JSON object of ``python -m benchmarks.chaos``.
    ``say`` receives a line for each fault and for the progress, now and then."""
    seed = config.seed if config.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    started = time.monotonic()
    folder = config.logs or Path(tempfile.mkdtemp(prefix="hanzi-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    say(f"seed {seed} (--seed {seed} plans the same faults again); logs in "
        f"{folder}")
    with ExitStack() as stack:
        redis_server, postgres = stack.enter_context(_servers(folder))
        env = service_environment(
            redis_url=redis_server.url, database_url=postgres.url,
            model_dir=config.model_dir.resolve(), home=folder / "home",
            visibility_timeout=str(config.visibility_timeout))
        _migrate(env)
        supervisor = Supervisor([ChaosWorker(i, env, folder) for i in range(config.workers)],
                                say)
        supervisor.start()
        stack.callback(supervisor.stop)
        supervisor.wait_until_all_ready(WORKER_START_TIMEOUT_S)
        say(f"{config.workers} workers ready after {time.monotonic() - started:.0f} s")

        attempts = tally.Attempts(postgres.url)
        stack.callback(attempts.close)
        producers = _start_producers(config, env, folder)
        stack.callback(_stop_producers, producers)
        chaos = events.Chaos(
            events.plan(kills=config.kills, redis_restarts=config.redis_restarts,
                        postgres_restarts=config.postgres_restarts, rng=rng),
            progress=lambda: (producers.total() + attempts.stored()) / (2 * config.jobs),
            supervisor=supervisor, redis=redis_server, postgres=postgres, rng=rng, say=say)
        chaos.start()
        stack.callback(chaos.stop)
        _wait_for_the_end(config, producers, attempts, chaos, redis_server.url, say)
        chaos.stop()
        lost, doubled = tally.outcome(_all_job_ids(config), attempts.per_job())

    _report(config, producers, chaos, supervisor, lost, doubled, say)
    if lost:
        _explain(lost, folder, chaos, producers.failed, say)
    if lost or doubled or config.logs:
        say(f"logs kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return {"jobs": config.jobs, "lost": len(lost), "doubled": len(doubled),
            "worker_kills": chaos.worker_kills,
            "redis_restarts": chaos.done[events.REDIS_RESTART],
            "postgres_restarts": chaos.done[events.POSTGRES_RESTART],
            "seconds": round(time.monotonic() - started)}


@contextmanager
def _servers(folder: Path) -> Iterator[tuple[OwnedRedis, OwnedPostgres]]:
    """A Redis with its append-only file fsynced on every write, and a Postgres cluster,
    both the run's own; stopped afterwards (the cluster's files removed, its log kept)."""
    redis_server = OwnedRedis(folder / "redis", free_port(), append_only=True)
    redis_server.folder.mkdir()
    # Not under the run's folder: the postgres user must reach it (mkdtemp's parent is /tmp).
    postgres = OwnedPostgres(Path(tempfile.mkdtemp(prefix="hanzi-chaos-pg-")), free_port(),
                             POSTGRES_BIN[-1])
    redis_server.start()
    try:
        postgres.create()
        try:
            yield redis_server, postgres
        finally:
            with suppress(subprocess.CalledProcessError):
                postgres.stop()
            with suppress(OSError):
                shutil.copy(postgres.folder / "postgres.log", folder / "postgres.log")
            shutil.rmtree(postgres.folder, ignore_errors=True)
    finally:
        redis_server.stop()  # its append-only file stays, to be read after a loss


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "hanzi_grader", "db", "upgrade"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"hanzi db upgrade exited {done.returncode}:\n{done.stderr[-3000:]}")


def _all_job_ids(config: ChaosConfig) -> list[str]:
    return [producer.job_id(JOB_PREFIX, i) for i in range(config.jobs)]


def _start_producers(config: ChaosConfig, env: dict[str, str], folder: Path) -> Producers:
    processes = []
    rate = config.rate or config.jobs / max(MIN_SENDING_S, SENDING_S_PER_KILL * config.kills)
    for index in range(config.producers):
        spec = {"prefix": JOB_PREFIX, "index": index, "producers": config.producers,
                "jobs": config.jobs, "rate": rate / config.producers}
        with (folder / f"producer{index}.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.chaos.producer", json.dumps(spec)],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True))
    producers = Producers(processes, [0] * len(processes))
    for index, process in enumerate(processes):
        threading.Thread(target=_read_producer, args=(producers, index, process),
                         daemon=True).start()
    return producers


def _read_producer(producers: Producers, index: int, process: subprocess.Popen) -> None:
    for line in process.stdout:
        said = json.loads(line)
        if "failed" in said:
            producers.failed[said["failed"]] = said["error"]
        else:
            producers.sent[index] = said["sent"]


def _stop_producers(producers: Producers) -> None:
    for process in producers.processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def _wait_for_the_end(config: ChaosConfig, producers: Producers, attempts: tally.Attempts,
                      chaos: events.Chaos, redis_url: str, say: Callable[[str], None]) -> None:
    """Until every job has an attempt; or, once all are sent and every fault made, until the
    broker has held nothing for a while (nothing more can come); or the timeout."""
    deadline: float | None = None
    drained_since: float | None = None
    next_word = time.monotonic()
    while attempts.stored() < config.jobs or not chaos.finished:
        now = time.monotonic()
        if now >= next_word:
            next_word = now + 10
            say(f"sent {producers.total()}/{config.jobs}, stored {attempts.stored()}, "
                f"faults made {sum(chaos.done.values())}, pending {len(chaos.pending)}")
        if producers.done:
            deadline = deadline or now + config.timeout
            if now > deadline:
                say(f"timed out: {config.timeout:g} s after the last job was sent")
                return
            if tally.broker_holds_nothing(redis_url):
                drained_since = drained_since or now
                if now - drained_since >= DRAINED_FOR_S:
                    if chaos.finished:
                        return
                    chaos.force_remaining()
            else:
                drained_since = None
        time.sleep(0.5)


def _report(config: ChaosConfig, producers: Producers, chaos: events.Chaos,
            supervisor: Supervisor, lost: list[str], doubled: list[str],
            say: Callable[[str], None]) -> None:
    say(f"faults: {dict(chaos.done)}; {chaos.forced} made after the queue had drained; "
        f"workers that exited by themselves: {supervisor.unexpected_exits}")
    for index, process in enumerate(producers.processes):
        if process.returncode:
            say(f"producer {index} exited {process.returncode}: see producer{index}.log")
    for job_id, error in sorted(producers.failed.items())[:SHOWN_IDS]:
        say(f"submit raised for {job_id}: {error}")
    if producers.failed:
        say(f"{len(producers.failed)} submits raised (never re-sent)")
    if lost:
        say(f"lost {len(lost)} of {config.jobs}: {', '.join(lost[:SHOWN_IDS])}")
    if doubled:
        say(f"doubled {len(doubled)}: {', '.join(doubled[:SHOWN_IDS])}")


def _explain(lost: list[str], folder: Path, chaos: events.Chaos, failed: dict[str, str],
             say: Callable[[str], None]) -> None:
    """For each lost job, when it was sent and the fault nearest that moment."""
    sent: dict[str, float] = {}
    for log in sorted(folder.glob("producer*.log")):
        sent |= producer.sent_times(log.read_text(errors="replace"))
    for job_id in lost[:SHOWN_IDS]:
        if job_id not in sent:
            say(f"{job_id}: its submit raised {failed[job_id]}" if job_id in failed
                else f"{job_id}: its producer never sent it")
            continue
        moment = sent[job_id]
        began, what = min(chaos.history, key=lambda fault: abs(fault[0] - moment),
                          default=(moment, "no fault"))
        say(f"{job_id}: sent at {_clock(moment)}; the nearest fault began {began - moment:+.2f} s "
            f"from then: {what}")


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"
