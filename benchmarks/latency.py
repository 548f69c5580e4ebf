"""Latency from submission to the published result (sent after the attempt is committed).

- a lone job on an idle worker, many times over, with random gaps so that no timer phase
  flatters it;
- a steady Poisson stream of single submissions at 50 % and 90 % of the peak throughput.

Run alone: ``python -m benchmarks.latency [--quick] [--peak IMAGES_PER_S]``.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from typing import Any

from benchmarks import inputs
from benchmarks.driver import Deployment, common_arguments, deployment, warm_up
from benchmarks.report import emit, percentile, rounded
from benchmarks.services import Worker


def lone(deployment: Deployment, *, count: int, seed: int = 5) -> list[float]:
    """Latencies (s) of ``count`` jobs sent one at a time to an idle worker."""
    from hanzi_grader.producer import client

    rng = random.Random(seed)
    images = inputs.images(count)
    latencies = []
    for i, image in enumerate(images):
        job_id = f"lone-{i}-{uuid.uuid4().hex[:8]}"
        started = time.time()
        client.submit(image, student="lone", job_id=job_id)
        arrived = deployment.watcher.wait_for([job_id], timeout=60)[job_id]
        latencies.append(arrived - started)
        time.sleep(rng.uniform(0.05, 0.3))
    return latencies


def steady(deployment: Deployment, *, rate: float, seconds: float, seed: int = 7
           ) -> tuple[list[float], float]:
    """Latencies (s) of a Poisson stream at ``rate`` jobs/s for ``seconds``, and the rate
    actually offered (the producer may fall short of a high one)."""
    from hanzi_grader.producer import client

    rng = random.Random(seed)
    count = max(1, round(rate * seconds))
    images = inputs.images(count)
    sent: dict[str, float] = {}
    begun = time.time()
    due = begun
    for i, image in enumerate(images):
        due += rng.expovariate(rate)
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        job_id = f"steady-{i}-{uuid.uuid4().hex[:8]}"
        sent[job_id] = time.time()
        client.submit(image, student=f"steady{round(rate)}", job_id=job_id)
    offered = count / (time.time() - begun)
    arrived = deployment.watcher.wait_for(list(sent), timeout=600)
    return [arrived[j] - sent[j] for j in sent], offered


def run(deployment: Deployment, worker: Worker, *, peak: float, lone_count: int,
        seconds: float) -> dict[str, Any]:
    """Every latency figure, on a running worker whose peak throughput is ``peak``."""
    warm_up(deployment, worker)
    time.sleep(1.0)  # let the warm-up's batches clear
    figures: dict[str, Any] = {"peak_images_per_s": rounded(peak, 1)}
    figures["lone"] = _summary(lone(deployment, count=lone_count))
    for share in (50, 90):
        latencies, offered = steady(deployment, rate=peak * share / 100, seconds=seconds)
        figures[f"load{share}"] = _summary(latencies) | {"offered_per_s": rounded(offered, 1)}
        time.sleep(1.0)
    return figures


def _summary(latencies: list[float]) -> dict[str, Any]:
    ms = [1000 * s for s in latencies]
    return {"count": len(ms), **{f"p{q}_ms": rounded(percentile(ms, q), 1)
                                 for q in (50, 95, 99)}}


def print_figures(figures: dict[str, Any], *, single_forward_ms: float | None) -> dict[str, Any]:
    goal = None if single_forward_ms is None else 2 * single_forward_ms + 50
    found = {
        "lone_p50_ms": figures["lone"]["p50_ms"],
        "lone_p95_ms": figures["lone"]["p95_ms"],
        "lone_p99_ms": figures["lone"]["p99_ms"],
        "lone_goal_ms": rounded(goal, 1) if goal else None,
        "p50_ms_at_50pct": figures["load50"]["p50_ms"],
        "p95_ms_at_50pct": figures["load50"]["p95_ms"],
        "p99_ms_at_50pct": figures["load50"]["p99_ms"],
        "p50_ms_at_90pct": figures["load90"]["p50_ms"],
        "p95_ms_at_90pct": figures["load90"]["p95_ms"],
        "p99_ms_at_90pct": figures["load90"]["p99_ms"],
    }
    rows = []
    for key, name in (("lone", "lone job, idle worker"), ("load50", "50 % of peak"),
                      ("load90", "90 % of peak")):
        part = figures[key]
        rows.append([name, part["count"], part.get("offered_per_s", "-"), part["p50_ms"],
                     part["p95_ms"], part["p99_ms"]])
    note = f"; goal lone p50 <= 2 x {single_forward_ms} + 50 = {goal:.1f} ms" if goal else ""
    emit(f"Latency, submit -> result published after commit (peak "
         f"{figures['peak_images_per_s']} images/s{note})",
         ["load", "jobs", "offered/s", "p50 ms", "p95 ms", "p99 ms"], rows, found)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--peak", type=float, default=None,
                        help="peak images/s [default: measured now with 1000 images]")
    parser.add_argument("--single-forward-ms", type=float, default=None)
    args = parser.parse_args()
    with deployment(args) as deployed, deployed.worker("latency") as worker:
        from benchmarks.driver import push

        peak = args.peak or push(deployed, worker, inputs.images(300 if args.quick else 1000),
                                 label="peak").images_per_s
        figures = run(deployed, worker, peak=peak, lone_count=20 if args.quick else 100,
                      seconds=4 if args.quick else 20)
        print_figures(figures, single_forward_ms=args.single_forward_ms)


if __name__ == "__main__":
    main()
