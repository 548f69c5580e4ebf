"""The reliable fetch: a message is always in the queue, in a consumer's in-flight list, or
recorded as unacknowledged, even when the consumer dies between taking and recording it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from hanzi_grader.worker.app import RELIABLE_REDIS_TRANSPORT, celery_config
from hanzi_grader.worker.reliable_fetch import (
    ALIVE_PREFIX,
    INFLIGHT_PREFIX,
    SOURCES_KEY,
    Transport,
)
from kombu import Connection, Exchange, Queue

from hanzi_grader.settings import Settings

REDIS_URL = os.environ.get("HANZI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
OPTIONS = {"priority_steps": [0], "inflight_ttl": 1}


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    yield client
    client.close()


@pytest.fixture
def queue(client) -> Iterator[Queue]:
    name = f"fetch-{uuid.uuid4().hex}"
    yield Queue(name, Exchange(name, type="direct"), routing_key=name)
    client.delete(name)


def connect() -> Connection:
    return Connection(REDIS_URL, transport=RELIABLE_REDIS_TRANSPORT, transport_options=OPTIONS)


def publish(queue: Queue, body: dict) -> None:
    with connect() as connection:
        connection.Producer().publish(body, exchange=queue.exchange,
                                      routing_key=queue.routing_key, declare=[queue])


def receive(connection: Connection, queue: Queue, timeout: float = 5) -> list:
    received: list = []
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(
            (body, message))], accept=["json"]):
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=1)
    return received


def test_redis_brokers_get_the_reliable_transport():
    assert celery_config(Settings(broker_url="redis://h:6379/0"))["broker_transport"] \
        == RELIABLE_REDIS_TRANSPORT
    assert celery_config(Settings(broker_url="amqp://h//"))["broker_transport"] is None
    with connect() as connection:
        assert connection.transport_cls is Transport or isinstance(connection.transport,
                                                                   Transport)


def test_a_received_message_is_unacknowledged_and_out_of_the_inflight_list(client, queue):
    publish(queue, {"n": 1})
    with connect() as connection:
        [(body, message)] = receive(connection, queue)
        channel = message.channel
        assert body == {"n": 1}
        assert client.hexists("unacked", message.delivery_tag)
        assert client.llen(channel.inflight_key) == 0
        assert client.hget(SOURCES_KEY, channel.inflight_key) == queue.name.encode()
        assert client.exists(channel.alive_key)
        message.ack()
        assert not client.hexists("unacked", message.delivery_tag)
    # a clean close leaves nothing of the consumer's behind
    assert not client.exists(channel.alive_key)
    assert not client.hexists(SOURCES_KEY, channel.inflight_key)


def test_a_stopped_consumers_inflight_messages_go_back_to_the_queue(client, queue):
    publish(queue, {"n": 2})
    raw = client.rpop(queue.name)
    dead = f"{INFLIGHT_PREFIX}dead-{uuid.uuid4().hex}"
    live = f"{INFLIGHT_PREFIX}live-{uuid.uuid4().hex}"
    client.lpush(dead, raw)
    client.lpush(live, raw)
    client.hset(SOURCES_KEY, mapping={dead: queue.name, live: queue.name})
    client.set(ALIVE_PREFIX + live.removeprefix(INFLIGHT_PREFIX), queue.name, ex=60)
    try:
        with connect() as connection:
            connection.default_channel.recover_orphans()
        assert client.llen(dead) == 0 and not client.hexists(SOURCES_KEY, dead)
        assert client.lrange(queue.name, 0, -1) == [raw]
        assert client.llen(live) == 1  # its owner is alive: not touched
    finally:
        client.delete(dead, live, ALIVE_PREFIX + live.removeprefix(INFLIGHT_PREFIX))
        client.hdel(SOURCES_KEY, dead, live)


CONSUMER_DIES_BEFORE_RECORDING = textwrap.dedent("""
    import os, sys
    from kombu import Connection, Exchange, Queue
    from hanzi_grader.worker.reliable_fetch import QoS

    QoS.append = lambda *args: os._exit(9)  # killed after the move, before the record
    url, name = sys.argv[1:]
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with Connection(url, transport="hanzi_grader.worker.reliable_fetch:Transport",
                    transport_options={"priority_steps": [0], "inflight_ttl": 1}) as c:
        with c.Consumer(queue, callbacks=[lambda body, message: None], accept=["json"]):
            while True:
                try:
                    c.drain_events(timeout=1)
                except TimeoutError:
                    pass
""")


def test_a_consumer_killed_between_taking_and_recording_loses_nothing(client, queue):
    publish(queue, {"n": 3})
    died = subprocess.run([sys.executable, "-c", CONSUMER_DIES_BEFORE_RECORDING, REDIS_URL,
                           queue.name], timeout=60)
    assert died.returncode == 9
    assert client.llen(queue.name) == 0
    holding = [key for key, source in client.hgetall(SOURCES_KEY).items()
               if source == queue.name.encode() and client.llen(key)]
    assert len(holding) == 1  # with kombu's BRPOP it would be nowhere now
    time.sleep(1.5)  # the dead consumer's key expires
    with connect() as connection:
        connection.default_channel.recover_orphans()
        [(body, message)] = receive(connection, queue)
        assert body == {"n": 3}
        message.ack()


def test_a_consumer_without_acks_gets_each_message_once(client, queue):
    # Celery's control replies are consumed so; nothing would take them out of a list
    publish(queue, {"n": 4})
    received: list = []
    with connect() as connection, connection.Consumer(
            queue, callbacks=[lambda body, message: received.append(body)], accept=["json"],
            no_ack=True):
        for _ in range(3):
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=1)
    assert received == [{"n": 4}]
    assert client.llen(queue.name) == 0
