"""A batch's messages acknowledged together leave nothing behind, in Redis or in kombu."""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace

import pytest
import redis
from hanzi_grader.worker.acks import acknowledge_all
from kombu import Connection

REDIS_URL = os.environ.get("HANZI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def channel():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    with Connection(REDIS_URL) as connection:
        yield connection.channel()


def taken(channel, queue: str, count: int) -> list[SimpleNamespace]:
    """``count`` messages published to ``queue`` and taken off it unacknowledged, as requests."""
    producer = channel.connection.client.Producer(channel)
    for i in range(count):
        producer.publish({"i": i}, routing_key=queue, exchange="", declare=[])
    messages = [channel.basic_get(queue, no_ack=False) for _ in range(count)]
    assert all(messages)
    acked: list[str] = []
    return [SimpleNamespace(message=m, acknowledged=False, acked=acked,
                            acknowledge=lambda m=m: acked.append(m.delivery_tag))
            for m in messages]


def test_a_batch_is_acknowledged_in_redis_and_in_kombu(channel):
    queue = f"acks-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    requests = taken(channel, queue, 3)
    tags = {r.message.delivery_tag for r in requests}
    assert tags <= {t.decode() for t in client.hkeys("unacked")}

    acknowledge_all(requests)

    assert not tags & {t.decode() for t in client.hkeys("unacked")}
    assert client.zscore("unacked_index", next(iter(tags))) is None
    assert all(r.acknowledged and r.message.acknowledged for r in requests)
    assert requests[0].acked == []  # none went the slow way, one by one
    # kombu counts nothing outstanding against the prefetch limit
    assert not (set(channel.qos._delivered) - channel.qos._dirty) & tags
    client.close()


def test_requests_without_a_redis_channel_are_acknowledged_one_by_one():
    acked: list[int] = []
    requests = [SimpleNamespace(message=None, acknowledged=False,
                                acknowledge=lambda i=i: acked.append(i)) for i in range(3)]
    acknowledge_all(requests)
    assert acked == [0, 1, 2]
