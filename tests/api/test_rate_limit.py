"""The per-key limiters, Redis's on the real server: a request may count as several (a batch)."""

from __future__ import annotations

import os
import random
import time
from types import SimpleNamespace

import pytest
from hanzi_grader.api import rate_limit
from hanzi_grader.api.rate_limit import MemoryRateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("HANZI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture(params=["memory", "redis"])
def limiter(request):
    return MemoryRateLimiter() if request.param == "memory" else RedisRateLimiter(REDIS_URL)


def test_requests_count_by_their_cost_until_the_limit(limiter, monkeypatch):
    # One instant, mid-window: the count must not start again half-way through the test
    now = (time.time() // 60) * 60 + 30
    monkeypatch.setattr(rate_limit, "time", SimpleNamespace(time=lambda: now))
    key_id = random.randrange(10**9, 2 * 10**9)  # a key no other test counts

    assert limiter.hit(key_id, 10, cost=4) is None
    assert limiter.hit(key_id, 10, cost=6) is None
    wait = limiter.hit(key_id, 10)
    assert wait == 30
    assert limiter.hit(key_id + 1, 10, cost=10) is None  # another key, its own count
