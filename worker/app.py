"""The Celery app: broker, result backend, queues and delivery guarantees, in one place.

Importing this module is cheap and never imports TensorFlow: the producer imports it to send
jobs by task name. The worker imports ``worker.tasks`` (through ``include``), whose model is
loaded in each pool process after the fork (``worker_process_init``), never in the parent.
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlsplit

from celery import Celery
from celery.signals import worker_process_init
from kombu import Exchange, Queue

from hanzi_grader.settings import Settings, get_settings

logger = logging.getLogger(__name__)

GRADE_TASK = "hanzi.grade"
GRADE_QUEUE = "hanzi.recognize"
# A whole sheet image (from a learning platform): its grid is found and its cells are sent
# back to GRADE_QUEUE as ordinary jobs. It shares that queue: a worker consuming a second
# queue lost a job when a worker was killed mid-batch (tests/integration/test_faults.py), and
# a sheet's analysis takes about a third of a second, far less than a batch.
SHEET_TASK = "hanzi.grade_sheet"
# Webhooks go out from a queue of their own, consumed by `hanzi webhook-worker` (threads, no
# model): a slow receiver must never hold up a pool process that grades.
WEBHOOK_TASK = "hanzi.deliver_webhook"
WEBHOOK_QUEUE = "hanzi.webhooks"
# Loading TensorFlow and the bundle in a fresh pool process takes longer than Celery's
# default 4 s start-up allowance.
PROCESS_START_TIMEOUT_S = 180.0
# kombu's Redis transport with a fetch that cannot lose a job (see the module).
RELIABLE_REDIS_TRANSPORT = "hanzi_grader.worker.reliable_fetch:Transport"


_publish_warned_at = [float("-inf")]


def _publish_retrying(error: Exception, interval: float) -> None:
    # One line every few seconds while the broker is away, not one per try.
    now = time.monotonic()
    if now - _publish_warned_at[0] >= 5:
        _publish_warned_at[0] = now
        logger.warning("the broker did not take a job (%s); still trying, for about 30 s in "
                       "all", error)


# Publishing rides out a broker restart (a Redis reloading its append-only file refuses
# commands for a moment): about 30 s of retries before a send fails, instead of Celery's 0.6 s.
PUBLISH_RETRY_POLICY = {"max_retries": 40, "interval_start": 0, "interval_step": 0.25,
                        "interval_max": 1.0, "errback": _publish_retrying}


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``."""
    app = Celery("hanzi_grader",
                 include=["hanzi_grader.worker.tasks", "hanzi_grader.worker.sheet_tasks",
                          "hanzi_grader.worker.webhooks"])
    app.conf.update(celery_config(settings))
    return app


def celery_config(settings: Settings) -> dict:
    """Celery settings derived from ``settings``; see the comments for the reasons."""
    return {
        "broker_url": settings.effective_broker_url,
        "broker_transport": broker_transport(settings),
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "result_backend": settings.effective_result_backend,
        # JSON only: a pickled message could run code in the worker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "event_serializer": "json",
        # A job is acknowledged only after its attempt is committed; a worker that dies
        # mid-batch leaves its jobs to come back to another worker.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "broker_transport_options": broker_transport_options(settings),
        # celery-batches never holds more than prefetch_multiplier x concurrency jobs, so a
        # full batch needs flush_every per process; twice that lets the next batch fill while
        # the current one runs.
        "worker_prefetch_multiplier": 2 * settings.flush_every,
        "worker_concurrency": settings.worker_concurrency,
        "worker_proc_alive_timeout": PROCESS_START_TIMEOUT_S,
        # A queue named with its own exchange and key: a queue declared by name alone is bound
        # to Celery's default exchange and key, and would receive the grading jobs too.
        "task_queues": (Queue(GRADE_QUEUE, Exchange(GRADE_QUEUE, type="direct"),
                              routing_key=GRADE_QUEUE),
                        Queue(WEBHOOK_QUEUE, Exchange(WEBHOOK_QUEUE, type="direct"),
                              routing_key=WEBHOOK_QUEUE)),
        "task_default_queue": GRADE_QUEUE,
        "task_routes": {GRADE_TASK: {"queue": GRADE_QUEUE}, SHEET_TASK: {"queue": GRADE_QUEUE},
                        WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE}},
        "result_expires": 7 * 24 * 3600,
        "broker_connection_retry_on_startup": True,
        # Task events feed Flower; the embedded SQLite broker cannot broadcast them. Flower
        # learns of each job from the worker's events; a "sent" event from the producer too
        # would double its cost per job (a second Redis round trip), so there is none.
        "worker_send_task_events": not settings.embedded,
        "task_send_sent_event": False,
        "worker_hijack_root_logger": True,
    }


def broker_transport(settings: Settings) -> str | None:
    """The transport class for the broker URL: ours for Redis, else the scheme's own."""
    scheme = urlsplit(settings.effective_broker_url).scheme
    return RELIABLE_REDIS_TRANSPORT if scheme in ("redis", "rediss") else None


def broker_transport_options(settings: Settings) -> dict:
    """Options for the broker's transport."""
    if settings.embedded:
        # kombu's SQLAlchemy transport passes these to create_engine: wait for SQLite's lock
        # (the producer and the worker share the file) instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    # Redis redelivers unacknowledged jobs after this long: sized to the longest batch, not
    # Celery's default hour, so a killed worker's jobs come back in minutes. kombu looks for
    # them every interval x throttle seconds (default 100 s); every 30 s here.
    # One list per queue (no priority steps): the reliable fetch moves from exactly one list.
    return {
        "priority_steps": [0],
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 3,
    }


app = make_app(get_settings())


@worker_process_init.connect
def _prepare_pool_process(**_kwargs) -> None:
    # Runs in each pool process right after the fork: connections made by the parent are
    # not ours to use, and the model is loaded here, once, before the first batch.
    from hanzi_grader.worker.grading import load_recognizer

    from hanzi_grader.database import forget_engines
    from hanzi_grader.errors import ModelUnavailable

    forget_engines()
    _one_gpu_per_process()
    _serve_metrics()
    try:
        load_recognizer()
    except ModelUnavailable as error:  # a setting to fix, not a bug: the message says which
        logger.error("could not load the model at start-up: %s", error)
    except Exception:  # the first batch tries again and reports the error on each job
        logger.exception("could not load the model at start-up")


def _serve_metrics() -> None:
    from billiard.process import current_process
    from hanzi_grader.worker.metrics import serve

    serve(get_settings().worker_metrics_port, getattr(current_process(), "index", None))


def _one_gpu_per_process() -> None:
    # With several pool processes on a multi-GPU host, process i takes GPU i, so that each
    # GPU runs one model. TensorFlow has not been imported yet in this process (the parent
    # never imports it), so the variable still takes effect. A user's own choice stands.
    from billiard.process import current_process

    index = getattr(current_process(), "index", None)
    if app.conf.worker_concurrency > 1 and index is not None:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(index))
        logger.info("pool process %d: CUDA_VISIBLE_DEVICES=%s", index,
                       os.environ["CUDA_VISIBLE_DEVICES"])
