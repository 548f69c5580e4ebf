"""A pool process counts what it grades, and serves it to Prometheus on its own port."""

from __future__ import annotations

import socket
import urllib.request

from hanzi_grader.worker import metrics
from hanzi_grader.worker.grading import Outcome
from prometheus_client import REGISTRY


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_is_counted_by_outcome_and_reason():
    before_done = value("hanzi_worker_jobs_total", outcome="done", reason="")
    before_bad = value("hanzi_worker_jobs_total", outcome="failed", reason="InvalidImage")
    before_batches = value("hanzi_worker_batch_size_count")
    outcomes = [Outcome("a", {"status": "done", "queue_ms": 120.0, "recognize_ms": 40.0}),
                Outcome("b", {"status": "done", "queue_ms": 80.0, "recognize_ms": 40.0}),
                Outcome("c", {"status": "failed", "error_type": "InvalidImage"})]

    metrics.record_batch(outcomes, already_stored=1)

    assert value("hanzi_worker_jobs_total", outcome="done", reason="") == before_done + 2
    assert value("hanzi_worker_jobs_total", outcome="failed",
                 reason="InvalidImage") == before_bad + 1
    assert value("hanzi_worker_batch_size_count") == before_batches + 1
    assert value("hanzi_worker_batch_size_bucket", le="4.0") >= 1


def test_each_pool_process_serves_on_its_own_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = sock.getsockname()[1]

    port = metrics.serve(base - 1, 1)

    assert port == base
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"hanzi_worker_jobs_total" in response.read()
    assert metrics.serve(None, 0) is None
