"""kombu's Redis transport with a reliable fetch: no job is lost between the queue and a worker.

kombu takes a message off the queue with BRPOP and only then records it as unacknowledged
(the ``unacked`` hash, from which a dead worker's messages come back after the visibility
timeout). A worker killed, or a Redis restarted, between the two lost the message. Here the
message is moved atomically (BLMOVE) from the queue into an in-flight list of the consuming
channel's own, and leaves that list in the same transaction that records it as
unacknowledged; from there kombu's own ack emulation takes over. A channel keeps a key alive
while it lives; any worker's periodic restore pass moves the in-flight messages of a channel
whose key has expired back to their queue (Sidekiq Pro's super_fetch does the same). A
message may then be delivered twice, never lost; a job's id makes the second delivery
harmless.

No library offers this for kombu, hence the subclass. It takes over only where the channel
consumes one list (one queue, no priority steps) and no global key prefix is set; anything
else falls back to kombu's BRPOP, with a warning.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

SOURCES_KEY = "reliable_fetch:sources"  # hash: in-flight list -> the queue it came from
INFLIGHT_PREFIX = "reliable_fetch:inflight:"
ALIVE_PREFIX = "reliable_fetch:alive:"
# A channel's in-flight messages go back to the queue this long after its process stopped
# refreshing the key (kombu's restore pass, every unacked_restore_interval, refreshes it).
DEFAULT_INFLIGHT_TTL_S = 30

# Atomic, so that a sweeper never strands a list whose owner just came back: the owner's
# refresh (SET alive, HSET sources) and this script cannot interleave.
RECOVER_SCRIPT = """
if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[4], 'RIGHT', 'RIGHT') do moved = moved + 1 end
redis.call('HDEL', KEYS[3], KEYS[1])
return moved
"""


class QoS(kombu_redis.QoS):
    """Records a fetched message as unacknowledged and takes it out of the in-flight list in
    one transaction."""

    def append(self, message, delivery_tag) -> None:
        fetched = self.channel.take_fetched()
        if fetched is None:
            super().append(message, delivery_tag)
            return
        inflight_key, raw = fetched
        delivery = message.delivery_info
        record = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        with self.pipe_or_acquire() as pipe:  # MULTI ... EXEC
            pipe.zadd(self.unacked_index_key, {delivery_tag: time.time()}) \
                .hset(self.unacked_key, delivery_tag, record) \
                .lrem(inflight_key, 1, raw) \
                .execute()
        virtual.QoS.append(self, message, delivery_tag)

    def restore_visible(self, *args, **kwargs) -> None:
        self.channel.keep_alive()
        super().restore_visible(*args, **kwargs)
        self.channel.recover_orphans()


class Channel(kombu_redis.Channel):
    QoS = QoS

    from_transport_options = (*kombu_redis.Channel.from_transport_options, "inflight_ttl")
    inflight_ttl = DEFAULT_INFLIGHT_TTL_S

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        fetcher = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.inflight_key = INFLIGHT_PREFIX + fetcher
        self.alive_key = ALIVE_PREFIX + fetcher
        self._fetching_from: str | None = None  # the queue of the outstanding BLMOVE
        self._fetched: tuple[str, bytes] | None = None  # delivered, not yet recorded
        self._registered_source: str | None = None
        self._alive_until = 0.0
        self._suspect = False  # the in-flight list may hold a message no one will record
        self._recover = None
        self._warned = False
        self._no_ack_queues: set[str] = set()

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        # A consumer that acknowledges nothing (Celery's control replies) records nothing as
        # unacknowledged, so nothing would take its message out of the in-flight list.
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    # -- fetching ---------------------------------------------------------------------------

    def _brpop_start(self, timeout=None):
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
        if len(keys) != 1 or self.global_keyprefix:
            self._warn_unreliable(keys)
        if len(keys) != 1 or self.global_keyprefix or queues[0] in self._no_ack_queues:
            self._fetching_from = None
            command_args = ["BRPOP", *keys, timeout or 0]
            if self.global_keyprefix:
                command_args = self.client._prefix_args(command_args)
        else:
            source = keys[0]
            if self._fetching_from is not None:  # a move whose reply was never read
                self._suspect = True
            self._prepare_inflight(source)
            self._fetching_from = source
            command_args = ["BLMOVE", source, self.inflight_key, "RIGHT", "LEFT", timeout or 0]
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()
        self.client.connection.send_command(*command_args)

    def _brpop_read(self, **options):
        source = self._fetching_from
        if source is None:
            return super()._brpop_read(**options)
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                # The move may have happened with its reply lost: look in the list next time.
                self._suspect = True
                self.client.connection.disconnect()
                raise
            if item is None:
                raise kombu_redis.Empty()
            queue = bytes_to_str(source)
            self._queue_cycle.rotate(queue)
            self._fetched = (self.inflight_key, item)
            try:
                self.connection._deliver(loads(bytes_to_str(item)), queue)
            finally:
                if self._fetched is not None:  # not recorded: it stays in the list
                    self._fetched = None
                    self._suspect = True
            return True
        finally:
            self._fetching_from = None
            self._in_poll = None
            self._flush_brpop_reauth()

    def take_fetched(self) -> tuple[str, bytes] | None:
        """The message being delivered from the in-flight list (once), for QoS.append."""
        fetched, self._fetched = self._fetched, None
        return fetched

    def _warn_unreliable(self, keys: list[str]) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("consuming %s with BRPOP: the reliable fetch needs one queue, no "
                           "priority steps and no global key prefix", keys)

    # -- keeping the in-flight list owned ----------------------------------------------------

    def _prepare_inflight(self, source: str) -> None:
        """Before a fetch: register the list's queue, refresh the key, and put back what a
        failed delivery left in the list."""
        if source != self._registered_source or time.monotonic() > self._alive_until:
            self._refresh(source)
        if self._suspect:
            self._run_recover(self.inflight_key, self.alive_key, source, force=True)
            self._suspect = False

    def keep_alive(self) -> None:
        """Refresh the key (from kombu's periodic restore pass); with no move outstanding,
        anything in the list is left over, and the next fetch puts it back."""
        if self._registered_source is None:
            return
        try:
            self._refresh(self._registered_source)
            if self._fetching_from is None:
                with self.conn_or_acquire() as client:
                    self._suspect = self._suspect or client.llen(self.inflight_key) > 0
        except self.connection_errors:
            logger.debug("could not refresh %s", self.alive_key, exc_info=True)

    def _refresh(self, source: str) -> None:
        with self.conn_or_acquire() as client:
            client.pipeline().set(self.alive_key, source, ex=self.inflight_ttl) \
                .hset(SOURCES_KEY, self.inflight_key, source).execute()
        self._registered_source = source
        self._alive_until = time.monotonic() + self.inflight_ttl / 3

    def recover_orphans(self) -> None:
        """Move the in-flight messages of every channel whose key expired back to their
        queue."""
        try:
            with self.conn_or_acquire() as client:
                lists = client.hgetall(SOURCES_KEY)
            for inflight_key, source in lists.items():
                inflight_key = bytes_to_str(inflight_key)
                fetcher = inflight_key.removeprefix(INFLIGHT_PREFIX)
                moved = self._run_recover(inflight_key, ALIVE_PREFIX + fetcher,
                                          bytes_to_str(source), force=False)
                if moved > 0:
                    logger.warning("put %d in-flight messages of a stopped consumer (%s) back "
                                   "on %s", moved, fetcher, bytes_to_str(source))
        except self.connection_errors:
            logger.debug("could not recover in-flight messages", exc_info=True)
        except self.ResponseError:  # e.g. scripts refused by a full noeviction Redis
            logger.warning("could not recover in-flight messages", exc_info=True)

    def _run_recover(self, inflight_key: str, alive_key: str, source: str, *,
                     force: bool) -> int:
        with self.conn_or_acquire() as client:
            if self._recover is None:
                self._recover = client.register_script(RECOVER_SCRIPT)
            return int(self._recover(keys=[inflight_key, alive_key, SOURCES_KEY, source],
                                     args=["force" if force else "check"], client=client))

    def close(self) -> None:
        # A clean stop hands back what it holds at once instead of after the key expires.
        if self._registered_source is not None and not self.closed:
            try:
                self._run_recover(self.inflight_key, self.alive_key, self._registered_source,
                                  force=True)
                with self.conn_or_acquire() as client:
                    client.delete(self.alive_key)
            except self.connection_errors:
                logger.debug("in-flight list %s left to expire", self.inflight_key,
                             exc_info=True)
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel


def in_flight(client) -> int:
    """Messages taken off a queue and not yet recorded as unacknowledged, in every list (a
    redis-py client)."""
    return sum(client.llen(key) for key in client.hkeys(SOURCES_KEY))


def nothing_pending(client, queue: str) -> bool:
    """Whether ``queue`` is empty and no message of any queue is in flight or unacknowledged:
    only then can no more attempts come (a redis-py client)."""
    return client.llen(queue) == 0 and client.hlen("unacked") == 0 and in_flight(client) == 0
