"""A worker that dies holding jobs does not lose them: Redis hands them to another worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from producer.cli import stop_worker
from tests.integration.conftest import ROOT, hanzi, start_worker, wait_for
from tests.integration.test_pipeline import write_images
from worker.app import GRADE_QUEUE

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FAULT_REDIS_URL = "redis://127.0.0.1:6379/6"

# Takes jobs off the queue without acknowledging them, then dies as a killed worker would:
# no goodbye, nothing handed back.
DYING_CONSUMER = f"""
import os
from kombu import Connection
with Connection({FAULT_REDIS_URL!r}) as connection:
    channel = connection.channel()
    taken = [channel.basic_get({GRADE_QUEUE!r}, no_ack=False) for _ in range(5)]
    assert all(taken), taken
    os._exit(9)
"""


@pytest.fixture
def fault_env(service_env, redis_url):
    client = redis.Redis.from_url(FAULT_REDIS_URL)
    client.flushdb()
    yield service_env | {"HANZI_BROKER_URL": FAULT_REDIS_URL, "HANZI_VISIBILITY_TIMEOUT": "2"}
    client.flushdb()
    client.close()


def test_jobs_held_by_a_killed_worker_come_back(fault_env, rows, tmp_path):
    # Given 5 jobs taken by a worker that was killed before acknowledging them
    write_images(tmp_path / "held", 5)
    jobs = [item["job_id"] for item in json.loads(hanzi(
        "submit", str(tmp_path / "held"), "--student", "killed", "--json", env=fault_env).stdout)]
    dead = subprocess.run([sys.executable, "-c", DYING_CONSUMER], env=fault_env, cwd=ROOT,
                          timeout=60)
    assert dead.returncode == 9
    broker = redis.Redis.from_url(FAULT_REDIS_URL)
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
