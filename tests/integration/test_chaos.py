"""The chaos run of issue 25 at a small size (benchmarks/chaos; ``pytest -m chaos``).

400 jobs with unique ids from two producer processes while pool processes and whole workers
are SIGKILLed (six kills, at least one of each) and the run's own Redis and Postgres restart
once each; no job is sent twice. Then every job id must have exactly one attempt.
"""

from __future__ import annotations

import pytest

from benchmarks.chaos.run import ChaosConfig, run
from benchmarks.owned import postgres_installed, redis_installed

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_no_job_is_lost_or_doubled_while_workers_die_and_servers_restart(model_dir, tmp_path):
    if not redis_installed() or not postgres_installed():
        pytest.skip("needs redis-server and PostgreSQL's server programs (initdb, pg_ctl)")
    lines: list[str] = []  # each run its own faults; the first line names its seed
    # When the jobs are sent through the faults
    summary = run(ChaosConfig(model_dir=model_dir, jobs=400, producers=2, workers=2, kills=6,
                              redis_restarts=1, postgres_restarts=1, timeout=120,
                              logs=tmp_path / "logs"),
                  say=lines.append)
    # Then every fault happened, and every job has exactly one attempt
    told = "\n".join(lines)
    assert summary | {"seconds": 0} == {
        "jobs": 400, "lost": 0, "doubled": 0, "worker_kills": 6, "redis_restarts": 1,
        "postgres_restarts": 1, "seconds": 0}, told
