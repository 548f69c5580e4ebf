"""Resident memory of the worker's processes at rest, and after 10,000 jobs.

The bound it checks: after 10,000 jobs, at rest again, each process holds at most
``GROWTH_BOUND_MB`` more than after its warm-up (TensorFlow's allocator keeps some arenas
once used; a leak per job would show as growth well past that).

Run alone: ``python -m benchmarks.memory [--quick]``.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from benchmarks import inputs
from benchmarks.driver import Deployment, common_arguments, deployment, push, sampled_peak_rss
from benchmarks.report import emit, rounded
from benchmarks.services import Worker

GROWTH_BOUND_MB = 64.0
CHUNK = 1000  # jobs per submit_many call


def run(deployment: Deployment, worker: Worker, *, jobs: int) -> dict[str, Any]:
    """RSS per process after warm-up, the peak while grading ``jobs``, and at rest after."""
    push(deployment, worker, inputs.images(64), label="memory-warmup")
    time.sleep(2.0)
    rest = worker.rss_mb()
    peaks: dict[str, float] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sampled_peak_rss, args=(worker, stop, peaks), daemon=True)
    sampler.start()
    try:
        for start in range(0, jobs, CHUNK):
            push(deployment, worker, inputs.images(min(CHUNK, jobs - start)),
                 label=f"memory{start // CHUNK}")
    finally:
        stop.set()
        sampler.join()
    time.sleep(2.0)
    after = worker.rss_mb()
    growth = {name: after[name] - rest[name] for name in rest}
    return {
        "jobs": jobs,
        "rss_mb_at_rest": {k: rounded(v, 1) for k, v in rest.items()},
        "rss_mb_peak": {k: rounded(v, 1) for k, v in peaks.items()},
        "rss_mb_after": {k: rounded(v, 1) for k, v in after.items()},
        "growth_mb": {k: rounded(v, 1) for k, v in growth.items()},
        "growth_bound_mb": GROWTH_BOUND_MB,
        "within_bound": all(v <= GROWTH_BOUND_MB for v in growth.values()),
    }


def print_figures(figures: dict[str, Any]) -> dict[str, Any]:
    rows = [[name, figures["rss_mb_at_rest"][name], figures["rss_mb_peak"].get(name, "-"),
             figures["rss_mb_after"][name], figures["growth_mb"][name]]
            for name in figures["rss_mb_at_rest"]]
    found = {
        "rss_mb_at_rest": sum(figures["rss_mb_at_rest"].values()),
        "rss_mb_after_10k": sum(figures["rss_mb_after"].values()),
        "rss_growth_mb": sum(figures["growth_mb"].values()),
        "rss_growth_bound_mb": GROWTH_BOUND_MB,
        "rss_within_bound": figures["within_bound"],
        "memory_jobs": figures["jobs"],
    }
    emit(f"Worker resident memory (MB), at rest and after {figures['jobs']:,} jobs; bound: "
         f"growth <= {GROWTH_BOUND_MB:.0f} MB per process "
         f"({'met' if figures['within_bound'] else 'MISSED'})",
         ["process", "at rest", "peak", "after", "growth"], rows,
         {k: rounded(v, 1) if isinstance(v, float) else v for k, v in found.items()})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    args = parser.parse_args()
    with deployment(args) as deployed, deployed.worker("memory") as worker:
        print_figures(run(deployed, worker, jobs=1000 if args.quick else 10_000))


if __name__ == "__main__":
    main()
