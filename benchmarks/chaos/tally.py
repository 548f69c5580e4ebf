"""What the chaos run counts: attempts stored in Postgres, and jobs still held by Redis.

Both are asked while the servers restart: a question that fails answers "not known now"
(the last count, or not drained) instead of raising.
"""

from __future__ import annotations

import time
from collections import Counter

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

STORED_TTL_S = 0.5  # the progress is asked often; Postgres is asked at most this often


class Attempts:
    """The attempts table of the run's own database."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine(database_url, pool_pre_ping=True,
                                     connect_args={"connect_timeout": 5})
        self._stored, self._asked = 0, 0.0

    def stored(self) -> int:
        """How many attempts are stored (the last count known, while Postgres restarts)."""
        if time.monotonic() - self._asked > STORED_TTL_S:
            self._asked = time.monotonic()
            try:
                with self._engine.connect() as connection:
                    self._stored = int(connection.execute(
                        text("SELECT count(*) FROM attempts")).scalar_one())
            except SQLAlchemyError:
                pass
        return self._stored

    def per_job(self) -> Counter[str]:
        """Attempts stored for each job id."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                text("SELECT job_id, count(*) FROM attempts GROUP BY job_id"))
            return Counter({job_id: int(count) for job_id, count in rows})

    def close(self) -> None:
        self._engine.dispose()


def outcome(job_ids: list[str], per_job: Counter[str]) -> tuple[list[str], list[str]]:
    """The lost (no attempt) and doubled (more than one) among ``job_ids``."""
    lost = [j for j in job_ids if per_job[j] == 0]
    doubled = [j for j in job_ids if per_job[j] > 1]
    return lost, doubled


def broker_holds_nothing(redis_url: str) -> bool:
    """No job waits in the queue, in flight or delivered but unacknowledged (False if
    unknown)."""
    from hanzi_grader.worker.app import GRADE_QUEUE
    from hanzi_grader.worker.reliable_fetch import nothing_pending

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return nothing_pending(client, GRADE_QUEUE)
    except redis.RedisError:
        return False
    finally:
        client.close()
