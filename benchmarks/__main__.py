"""``python -m benchmarks``: every benchmark against the local Redis and Postgres.

Starts its own workers (a throwaway database, Redis database 12), prints each benchmark's
table and JSON, then the goals table, and as its last line one JSON object with every figure.
``--quick`` runs small counts for development; the figures worth quoting come without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks import inputs
from benchmarks.driver import common_arguments, deployment
from benchmarks.report import emit, rounded


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    common_arguments(parser)
    parser.add_argument("--images", type=int, default=None,
                        help="N for the pipeline runs [default: 2000; 300 with --quick]")
    parser.add_argument("--no-sheets", action="store_true",
                        help="skip benchmarks.sheets even when it exists")
    args = parser.parse_args()
    count = args.images or (300 if args.quick else 2000)
    started = time.time()
    context = {"cpus": os.cpu_count(), "load_average_at_start": rounded(os.getloadavg()[0], 2),
               "images": count, "inputs": inputs.describe(), "quick": args.quick}
    with deployment(args) as deployed:
        found = _measure(deployed, args, count)
    context["load_average_at_end"] = rounded(os.getloadavg()[0], 2)
    context["seconds"] = round(time.time() - started)
    if not args.no_sheets:
        _run_sheets(args)
    _print_goals(found)
    print(json.dumps(found | context, sort_keys=True))


def _measure(deployed, args: argparse.Namespace, count: int) -> dict[str, Any]:
    from benchmarks import api, forward, latency, memory, pipeline
    from hanzi_grader.settings import get_settings

    batch_size = get_settings().flush_every
    raw = forward.run(model_dir=deployed.model_dir, count=count, batch_size=batch_size,
                      passes=1 if args.quick else 3)
    forward.print_figures(raw)
    found: dict[str, Any] = {
        "architecture": raw["architecture"], "model_version": raw["model_version"],
        "runtime": raw["runtime"],
        "batch_size": batch_size, "flush_interval_s": get_settings().flush_interval,
        **{k: raw[k] for k in ("raw_images_per_s", "recognize_images_per_s",
                               "single_forward_ms", "preprocess_ms_per_image", "batch_ms")},
    }
    with deployed.worker("batching") as worker:
        from benchmarks.driver import push, warm_up

        warm_up(deployed, worker)
        one = push(deployed, worker, inputs.images(count), label="pipeline")
        timings = latency.run(deployed, worker, peak=one.images_per_s,
                              lone_count=20 if args.quick else 100,
                              seconds=4 if args.quick else 20)
    plain_push = pipeline.batching_gain(deployed, count=max(100, count // 2))
    two = pipeline.scaling(deployed, count=count)
    found |= pipeline.print_figures(raw, one, plain_push, two)
    found |= latency.print_figures(timings, single_forward_ms=raw["single_forward_ms"])
    with deployed.worker("memory") as worker:
        found |= memory.print_figures(memory.run(deployed, worker,
                                                 jobs=1000 if args.quick else 10_000))
    with deployed.worker("api") as worker:
        found |= api.print_figures(api.run(deployed, worker, count=min(count, 1000)))
    return found


def _print_goals(found: dict[str, Any]) -> None:
    from benchmarks import api

    lone_goal = 2 * found["single_forward_ms"] + 50
    rows = [
        ["pipeline / bare forward (b/a)", found["pipeline_ratio"], ">= 0.9",
         _met(found["pipeline_ratio"] >= 0.9)],
        ["batching gain vs plain task", found["batching_gain"], ">= 8x",
         _met(found["batching_gain"] >= 8)],
        ["lone job p50 (ms)", found["lone_p50_ms"], f"<= {lone_goal:.1f}",
         _met(found["lone_p50_ms"] <= lone_goal)],
        ["p95 at 90 % of peak (ms)", found["p95_ms_at_90pct"], "(reported)", "-"],
        ["2 processes / 1 process", found["scaling_2_over_1"], "(reported)", "-"],
        ["HTTP API / producer.client, one job a request", found["api_over_client"],
         f">= {api.GOAL}", _met(found["api_over_client"] >= api.GOAL)],
        ["HTTP API / producer.client, batches of 100", found["api_batch_over_client"],
         f">= {api.GOAL}", _met(found["api_batch_over_client"] >= api.GOAL)],
        ["RSS growth over 10k jobs (MB)", found["rss_growth_mb"],
         f"<= {found['rss_growth_bound_mb']:.0f} per process", _met(found["rss_within_bound"])],
    ]
    emit(f"Goals ({found['architecture']}, batches of {found['batch_size']}, "
         f"{os.cpu_count()} CPUs)", ["figure", "value", "goal", "met"], rows, {})


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _run_sheets(args: argparse.Namespace) -> None:
    # Another benchmark lives beside these; its figures are its own, printed before ours.
    if importlib.util.find_spec("benchmarks.sheets") is None:
        return
    command = [sys.executable, "-m", "benchmarks.sheets", *(["--quick"] if args.quick else [])]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        print(f"(benchmarks.sheets exited {done.returncode}; its figures are missing)\n",
              flush=True)


if __name__ == "__main__":
    main()
