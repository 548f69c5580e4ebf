"""Per-key rate limits: a fixed one-minute window counted in Redis, shared by every API
process (in memory on the embedded setup, which has no Redis).

A fixed window lets a client make up to twice its limit across a window boundary; a sliding
log would not, at a sorted set per key. For a coarse abuse limit the window's single INCR is
the better trade.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

WINDOW_S = 60


class RateLimiter(Protocol):
    def hit(self, key_id: int, limit: int, cost: int = 1) -> int | None:
        """Count a request (``cost``: how many it counts as); None if allowed, else the
        seconds until the next one is."""


class RedisRateLimiter:
    """Counts in Redis: ``hanzi:api:rate:<key id>:<window>`` expires with its window."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def hit(self, key_id: int, limit: int, cost: int = 1) -> int | None:
        now = time.time()
        window = int(now // WINDOW_S)
        name = f"hanzi:api:rate:{key_id}:{window}"
        with self.client.pipeline() as pipe:
            count, _ = pipe.incrby(name, cost).expire(name, WINDOW_S + 1).execute()
        return None if count <= limit else _until_next_window(now)


class MemoryRateLimiter:
    """Counts in this process: for the embedded setup, one API process."""

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}
        self.lock = threading.Lock()

    def hit(self, key_id: int, limit: int, cost: int = 1) -> int | None:
        now = time.time()
        window = int(now // WINDOW_S)
        with self.lock:
            self.counts = {k: v for k, v in self.counts.items() if k[1] == window}
            count = self.counts[(key_id, window)] = self.counts.get((key_id, window), 0) + cost
        return None if count <= limit else _until_next_window(now)


def _until_next_window(now: float) -> int:
    return max(1, int(WINDOW_S - now % WINDOW_S + 0.999))


def rate_limiter(broker_url: str | None) -> RateLimiter:
    """Redis when the broker is Redis, else in memory."""
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(broker_url)
    return MemoryRateLimiter()
