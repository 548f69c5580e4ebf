"""The chaos run's plain parts: its plan of faults, the producers' ids, and its count."""

from __future__ import annotations

import random
from collections import Counter

from benchmarks.chaos import events, producer, tally


def test_the_plan_has_every_fault_asked_for_with_kills_of_both_kinds_in_progress_order():
    faults = events.plan(kills=20, redis_restarts=3, postgres_restarts=3,
                         rng=random.Random(7))
    kinds = Counter(f.kind for f in faults)
    assert kinds[events.POOL_KILL] + kinds[events.WORKER_KILL] == 20
    assert kinds[events.POOL_KILL] >= 1 and kinds[events.WORKER_KILL] >= 1
    assert (kinds[events.REDIS_RESTART], kinds[events.POSTGRES_RESTART]) == (3, 3)
    moments = [f.due_at for f in faults]
    assert moments == sorted(moments)
    assert moments[0] >= events.FIRST_AT and moments[-1] <= events.LAST_AT


def test_a_seed_plans_the_same_faults_again():
    def planned(seed: int) -> list[events.Fault]:
        return events.plan(kills=6, redis_restarts=1, postgres_restarts=1,
                           rng=random.Random(seed))

    assert planned(3) == planned(3)
    assert planned(3) != planned(4)


def test_producers_send_every_id_once_between_them():
    sent = [producer.job_ids(prefix="c", index=i, producers=3, jobs=10) for i in range(3)]
    every = [job for ids in sent for job in ids]
    assert sorted(every) == sorted(f"c-{i}" for i in range(10))
    assert len(set(every)) == 10


def test_the_moment_each_job_was_sent_is_read_back_from_a_producer_log():
    log = "sent c-1 1700000000.250\nsome warning\nsent c-3 1700000001.500\n"
    assert producer.sent_times(log) == {"c-1": 1700000000.25, "c-3": 1700000001.5}


def test_lost_is_no_attempt_and_doubled_is_more_than_one():
    lost, doubled = tally.outcome(["a", "b", "c"], Counter({"a": 1, "c": 2, "x": 1}))
    assert (lost, doubled) == (["b"], ["c"])
