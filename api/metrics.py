"""Prometheus metrics of the API process, served at ``/metrics``.

Labels are bounded: the route's template (``/v1/jobs/{job_id}``), never a job, student or key.
The queue depth is read from the broker when scraped, so it is never stale.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

REQUESTS = Counter("hanzi_api_requests_total", "HTTP requests answered, by route and status.",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("hanzi_api_request_duration_seconds",
                            "Time to answer an HTTP request, by route.", ["method", "route"])
JOBS_SUBMITTED = Counter("hanzi_jobs_submitted_total",
                         "Jobs accepted for grading (repeats of an idempotent submit excluded).",
                         ["via"])
JOBS_REFUSED = Counter("hanzi_jobs_refused_total", "Job submissions refused, by reason.",
                       ["reason"])


class QueueDepthCollector(Collector):
    """``hanzi_queue_depth``: jobs waiting in the grading queue, asked of the broker."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from hanzi_grader.producer.workers import queued_jobs

        gauge = GaugeMetricFamily("hanzi_queue_depth", "Jobs waiting for a worker.")
        try:
            gauge.add_metric([], queued_jobs())
        except Exception as error:  # a scrape must not fail because the broker is down
            logger.warning("queue depth unavailable: %s", error)
            return
        yield gauge


_collector_registered = False


def register_queue_depth() -> None:
    """Register the queue-depth collector once per process (app factories may run twice)."""
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(QueueDepthCollector())
        _collector_registered = True


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            REQUEST_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)
