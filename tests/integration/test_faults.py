"""Fault injection: workers killed, Postgres and Redis restarted, poison jobs, a burst.

Run alone with ``pytest -m faults``. Every test submits jobs with unique ids and ends by
checking, in Postgres, that every job id has exactly one attempt and every good job's
attempt is a success (and that the broker holds nothing back); no job is sent twice, and
none may be lost (issue 25). Restarts happen to a Redis or Postgres the test owns
(tests/integration/owned.py), never to the shared servers; each test's broker is a Redis of
its own, so that no other test run can flush it or take its jobs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from hanzi_grader.producer.workers import stop_worker
from hanzi_grader.worker.app import GRADE_QUEUE
from hanzi_grader.worker.reliable_fetch import nothing_pending
from sqlalchemy import create_engine, text

from tests.integration.conftest import (
    ROOT,
    hanzi,
    json_lines,
    start_worker,
    wait_for,
    wait_until_ready,
)
from tests.integration.poison import EXPECTED, REASONS
from tests.integration.producing import produce, start_producing
from tests.integration.test_pipeline import write_images
from tests.training.conftest import stroke_data  # noqa: F401  (the shared fixture)
from tests.worker.images import character_png

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MAX_IMAGE_BYTES = 100_000  # small, so that the oversized poison stays small too
BURST = 5000
BURST_RSS_GROWTH_MB = 200  # the pool process's growth over its size at rest, at most


@pytest.fixture
def fault_env(service_env, owned_redis) -> dict[str, str]:
    """The deployment on a Redis of the test's own, with a 2 s visibility timeout."""
    return service_env | {"HANZI_BROKER_URL": owned_redis.url, "HANZI_VISIBILITY_TIMEOUT": "2",
                          "HANZI_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES)}


@pytest.fixture
def prefix() -> str:
    return f"f{uuid.uuid4().hex[:8]}"


# -- what every test checks at the end -----------------------------------------------------


def attempts(database_url: str, prefix: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text(
                "SELECT job_id, status, error, error_type FROM attempts WHERE job_id LIKE :p"),
                {"p": f"{prefix}-%"})
            return [dict(row._mapping) for row in found]
    finally:
        engine.dispose()


def wait_for_attempts(database_url: str, prefix: str, count: int, timeout: float) -> None:
    wait_for(lambda: len(attempts(database_url, prefix)) >= count, timeout=timeout,
             what=f"{count} attempts for {prefix}", interval=0.5)


def assert_each_job_once(database_url: str, prefix: str, *, good: list[str],
                         failed: dict[str, str] | None = None,
                         never: tuple[str, ...] = ()) -> None:
    """Every job id has exactly one attempt; good ones succeeded; failed ones failed with the
    given error type; ``never`` (refused) ones left none; and there is nothing else."""
    failed = failed or {}
    rows = attempts(database_url, prefix)
    counts = Counter(r["job_id"] for r in rows)
    assert {j: n for j, n in counts.items() if n != 1} == {}
    assert set(counts) == set(good) | set(failed), "attempts missing or unexpected"
    assert not set(never) & set(counts)
    by_id = {r["job_id"]: r for r in rows}
    not_done = {j: by_id[j]["error"] for j in good if by_id[j]["status"] != "done"}
    assert not_done == {}
    assert {j: (by_id[j]["status"], by_id[j]["error_type"]) for j in failed} == {
        j: ("failed", kind) for j, kind in failed.items()}


def assert_broker_drained(broker_url: str) -> None:
    client = redis.Redis.from_url(broker_url)
    try:
        wait_for(lambda: nothing_pending(client, GRADE_QUEUE),
                 timeout=120, what="the queue to drain and every job to be acknowledged")
    finally:
        client.close()


def wait_until_handled(broker_url: str, database_url: str, prefix: str, count: int,
                       timeout: float) -> None:
    """Until ``count`` attempts are stored, or the broker holds nothing (then no more can
    come: what is missing is lost, and ``assert_each_job_once`` names it)."""
    client = redis.Redis.from_url(broker_url)
    try:
        wait_for(lambda: len(attempts(database_url, prefix)) >= count or nothing_pending(
            client, GRADE_QUEUE),
                 timeout=timeout, what=f"{count} attempts for {prefix}", interval=0.5)
    finally:
        client.close()


def pool_rss_mb(parent_pid: int) -> float:
    """Resident memory of a worker's pool processes, in MB (Linux /proc)."""
    total = 0.0
    for task in Path(f"/proc/{parent_pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


# -- 1. a worker killed mid-batch -------------------------------------------------------------


def test_a_worker_killed_mid_batch_leaves_every_job_done_once(fault_env, prefix, tmp_path):
    database_url = fault_env["HANZI_DATABASE_URL"]
    first = start_worker(fault_env, tmp_path / "first.log", new_session=True)
    try:
        wait_until_ready(first, tmp_path / "first.log")
        # Given a worker busy with a stream of jobs, some batches already stored
        producer = start_producing(fault_env, prefix=prefix, good=2000)
        wait_for_attempts(database_url, prefix, 64, timeout=120)
        # When it is killed outright, pool process and all
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    stored_at_kill = len(attempts(database_url, prefix))
    sent = json.loads(producer.communicate(timeout=300)[0])
    assert stored_at_kill < 2000, "the worker finished before it could be killed"
    broker_url = fault_env["HANZI_BROKER_URL"]
    assert redis.Redis.from_url(broker_url).hlen("unacked") > 0, "it held no jobs"

    # Then a new worker takes them over, and every job is graded exactly once
    second = start_worker(fault_env, tmp_path / "second.log")
    try:
        wait_until_handled(broker_url, database_url, prefix, 2000, timeout=240)
        assert_broker_drained(broker_url)
    finally:
        stop_worker(second)
    assert_each_job_once(database_url, prefix, good=sent["good"])


def sheets_of(database_url: str, prefix: str) -> dict[str, dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text(
                "SELECT s.id, s.status, s.cells_sent, count(a.job_id) AS stored, "
                "count(DISTINCT a.job_id) AS distinct_stored FROM sheets s "
                "LEFT JOIN attempts a ON a.sheet_id = s.id WHERE s.id LIKE :p GROUP BY s.id"),
                {"p": f"{prefix}-sheet-%"})
            return {row.id: dict(row._mapping) for row in found}
    finally:
        engine.dispose()


SHEETS = 12


@pytest.mark.usefixtures("stroke_data")
def test_sheets_whose_worker_was_killed_mid_way_are_finished(fault_env, prefix, tmp_path):
    from PIL import Image

    from tests.producer.sheets.conftest import make_sheet

    fault_env = fault_env | {"HANZI_MAX_IMAGE_BYTES": str(4 * 2**20)}  # whole scans
    database_url = fault_env["HANZI_DATABASE_URL"]
    scans = []
    for i in range(SHEETS):
        path = tmp_path / f"sheet-{i}.png"
        Image.fromarray(make_sheet(60 + i, rows=3, columns=5, expect="永水人").image).save(path)
        scans.append(str(path))
    first = start_worker(fault_env, tmp_path / "first.log", new_session=True)
    try:
        wait_until_ready(first, tmp_path / "first.log")
        # Given a worker that has begun on a stack of sheets
        producer = start_producing(fault_env, prefix=prefix, sheets=scans, expect="永水人")
        wait_for(lambda: sum(s["stored"] for s in sheets_of(database_url, prefix).values())
                 >= 1, timeout=120, what="the first cell stored", interval=0.05)
        # When it is killed outright, pool process and all
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    sent = json.loads(producer.communicate(timeout=300)[0])
    at_kill = sheets_of(database_url, prefix)
    assert [s["status"] for s in at_kill.values()] != ["done"] * SHEETS, \
        "every sheet was finished before the kill"

    # Then a new worker finishes every sheet, each written cell stored once
    second = start_worker(fault_env, tmp_path / "second.log")
    try:
        wait_for(lambda: [s["status"] for s in sheets_of(database_url, prefix).values()]
                 == ["done"] * SHEETS, timeout=240, what="every sheet finished", interval=0.5)
    finally:
        stop_worker(second)
    sheets = sheets_of(database_url, prefix)
    assert set(sheets) == set(sent["sheets"])
    assert all(s["cells_sent"] == s["stored"] == s["distinct_stored"] > 0
               for s in sheets.values()), sheets


# -- 2. Postgres restarted while batches are written ------------------------------------------


def test_a_postgres_restart_while_batches_are_written_loses_and_doubles_nothing(
        fault_env, owned_postgres, prefix, tmp_path):
    env = fault_env | {"HANZI_DATABASE_URL": owned_postgres.url}
    hanzi("db", "upgrade", env=env)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until_ready(worker, tmp_path / "worker.log")
        producer = start_producing(env, prefix=prefix, good=1500)
        wait_for_attempts(owned_postgres.url, prefix, 64, timeout=120)
        # When Postgres restarts (cutting the worker's connections) mid-stream
        owned_postgres.restart()
        restarted_at = len(attempts(owned_postgres.url, prefix))
        sent = json.loads(producer.communicate(timeout=300)[0])
        # Then every job is stored once, the ones caught by the restart retried
        wait_until_handled(env["HANZI_BROKER_URL"], owned_postgres.url, prefix, 1500,
                           timeout=240)
        assert_broker_drained(env["HANZI_BROKER_URL"])
    finally:
        stop_worker(worker)
    assert restarted_at < 1500, "every batch was stored before the restart"
    assert_each_job_once(owned_postgres.url, prefix, good=sent["good"])


# -- 3. Redis restarted with jobs queued ------------------------------------------------------


def test_a_redis_restart_with_jobs_queued_loses_nothing(fault_env, owned_aof_redis, prefix,
                                                         tmp_path):
    owned_redis = owned_aof_redis
    env = fault_env | {"HANZI_BROKER_URL": owned_redis.url}
    database_url = env["HANZI_DATABASE_URL"]
    # Given 1000 jobs queued and no worker yet
    sent = produce(env, prefix=prefix, good=1000)
    # When Redis crashes and comes back: its append-only file still holds the queue
    owned_redis.restart(signal.SIGKILL)
    assert redis.Redis.from_url(owned_redis.url).llen(GRADE_QUEUE) == 1000
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until_ready(worker, tmp_path / "worker.log")
        wait_for_attempts(database_url, prefix, 64, timeout=120)
        # and restarts again while a worker is busy with the queue
        owned_redis.restart()
        # Then the worker reconnects and every job is graded once, none sent again
        wait_until_handled(owned_redis.url, database_url, prefix, 1000, timeout=240)
        assert_broker_drained(owned_redis.url)
    finally:
        stop_worker(worker)
    assert_each_job_once(database_url, prefix, good=sent["good"])


# -- 4. poison inputs among good ones ---------------------------------------------------------


def test_poison_jobs_fail_alone_with_a_reason_and_the_worker_keeps_serving(fault_env, prefix,
                                                                           tmp_path):
    database_url = fault_env["HANZI_DATABASE_URL"]
    log = tmp_path / "worker.log"
    worker = start_worker(fault_env, log)
    try:
        wait_until_ready(worker, log)
        # Given every kind of poison, each between good jobs, and a pickled message
        sent = produce(fault_env, prefix=prefix, good=40, poison=True)
        wait_for_attempts(database_url, prefix, 40 + len(EXPECTED), timeout=120)
        wait_for(lambda: "pickle" in log.read_text(errors="replace"), timeout=30,
                 what="the worker to log the refused pickled message")
        # Then it keeps serving: new good jobs after the poison are graded
        after = produce(fault_env, prefix=f"{prefix}-after", good=10)
        wait_for_attempts(database_url, f"{prefix}-after", 10, timeout=60)
        assert_broker_drained(fault_env["HANZI_BROKER_URL"])
        assert worker.poll() is None
    finally:
        stop_worker(worker)

    poison = sent["poison"]
    assert_each_job_once(database_url, prefix, good=sent["good"] + after["good"],
                         failed={poison[name]: kind for name, kind in EXPECTED.items()},
                         never=(sent["pickled"],))
    errors = {r["job_id"]: r["error"] for r in attempts(database_url, prefix)}
    unclear = {name: errors[poison[name]] for name, reason in REASONS.items()
               if reason.lower() not in errors[poison[name]].lower()}
    assert unclear == {}
    # The client refuses what it can see is wrong, saying why, before anything is sent
    assert all(sent["refused"].values()), sent["refused"]


# -- 5. a burst of 5,000 jobs into one worker ---------------------------------------------------


def test_a_burst_of_5000_jobs_drains_with_bounded_memory(fault_env, prefix, tmp_path):
    database_url = fault_env["HANZI_DATABASE_URL"]
    worker = start_worker(fault_env, tmp_path / "worker.log")
    peak = {"rss": 0.0}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.2):
            peak["rss"] = max(peak["rss"], pool_rss_mb(worker.pid))

    try:
        wait_until_ready(worker, tmp_path / "worker.log")
        produce(fault_env, prefix=f"w{prefix}", good=64)
        wait_for_attempts(database_url, f"w{prefix}", 64, timeout=60)
        at_rest = pool_rss_mb(worker.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # When 5,000 jobs arrive at once
        sent = produce(fault_env, prefix=prefix, good=BURST)
        # Then the queue drains, every job graded once, and memory stays bounded
        wait_for_attempts(database_url, prefix, BURST, timeout=600)
        assert_broker_drained(fault_env["HANZI_BROKER_URL"])
    finally:
        sampling.set()
        stop_worker(worker)
    assert_each_job_once(database_url, prefix, good=sent["good"])
    assert peak["rss"] - at_rest <= BURST_RSS_GROWTH_MB, (at_rest, peak)


# -- the consumer that dies holding jobs --------------------------------------------------------

# Takes jobs off the queue without acknowledging them, then dies as a killed worker would:
# no goodbye, nothing handed back.
DYING_CONSUMER = """
import os, sys
from kombu import Connection
with Connection(sys.argv[1]) as connection:
    channel = connection.channel()
    taken = [channel.basic_get(sys.argv[2], no_ack=False) for _ in range(5)]
    assert all(taken), taken
    os._exit(9)
"""


def test_jobs_held_by_a_killed_worker_come_back(fault_env, rows, tmp_path):
    # Given 5 jobs taken by a worker that was killed before acknowledging them
    write_images(tmp_path / "held", 5)
    jobs = [item["job_id"] for item in json_lines(hanzi(
        "submit", str(tmp_path / "held"), "--student", "killed", "--json", env=fault_env).stdout)]
    broker_url = fault_env["HANZI_BROKER_URL"]
    dead = subprocess.run([sys.executable, "-c", DYING_CONSUMER, broker_url, GRADE_QUEUE],
                          env=fault_env, cwd=ROOT, timeout=60)
    assert dead.returncode == 9
    broker = redis.Redis.from_url(broker_url)
    assert broker.llen(GRADE_QUEUE) == 0 and broker.hlen("unacked") == 5

    # When another worker runs, Then after the visibility timeout it grades all of them
    process = start_worker(fault_env, tmp_path / "worker.log")
    try:
        wait_for(lambda: len(rows("student_id = 'killed'")) == 5, timeout=120,
                 what="the held jobs to be graded by the other worker")
    finally:
        stop_worker(process)
    assert {r["job_id"] for r in rows("student_id = 'killed'")} == set(jobs)
    assert broker.hlen("unacked") == 0


def test_a_full_redis_makes_submit_fail_clearly_and_queue_nothing(fault_env, owned_redis,
                                                                    tmp_path):
    # Given a broker at its memory limit that evicts nothing
    client = redis.Redis.from_url(owned_redis.url)
    client.config_set("maxmemory-policy", "noeviction")
    client.set("ballast", b"x" * 4_000_000)
    client.config_set("maxmemory", str(client.info("memory")["used_memory"] // 2))
    image = tmp_path / "永.png"
    image.write_bytes(character_png("永"))

    # When a job is submitted
    done = hanzi("submit", str(image), "--student", "full-redis", env=fault_env, check=False,
                 timeout=60)

    # Then submit fails in one line that says why, and no job sits in the queue
    assert done.returncode != 0
    assert "is full (Redis maxmemory reached)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert client.llen(GRADE_QUEUE) == 0
