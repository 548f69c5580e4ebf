"""Throughput of the whole path: producer -> Redis -> batching worker -> Postgres.

- efficiency: N images through the pipeline, against the bare forward pass over the same N;
- batching gain: the batching worker against a plain task grading one image per message;
- scaling: 1 against 2 worker processes, and what each job costs each part of the path
  (CPU milliseconds of the producer, Redis, the worker's consumer and pool, Postgres), which
  is what sizing N GPU hosts needs beside the batch times of ``benchmarks.forward``.

Run alone: ``python -m benchmarks.pipeline [--quick]`` (it measures the bare model first).
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks import inputs
from benchmarks.driver import Deployment, Push, common_arguments, deployment, push, warm_up
from benchmarks.report import emit, rounded

PARTS = ("producer", "redis", "consumer", "pool", "model", "postgres")


def efficiency(deployment: Deployment, *, count: int) -> Push:
    """N images through one batching worker process (already running and warm)."""
    with deployment.worker("batching") as worker:
        warm_up(deployment, worker)
        return push(deployment, worker, inputs.images(count), label="pipeline")


def batching_gain(deployment: Deployment, *, count: int) -> Push:
    """The same kind of images through the plain one-image-per-message task."""
    from benchmarks import plain  # imports worker.app: only once the deployment is set up

    with deployment.worker("plain", command=plain.worker_command("plain")) as worker:
        push(deployment, worker, inputs.images(16), label="plain-warmup",
             task=plain.PLAIN_TASK, queue=plain.PLAIN_QUEUE)
        return push(deployment, worker, inputs.images(count), label="plain",
                    task=plain.PLAIN_TASK, queue=plain.PLAIN_QUEUE)


def scaling(deployment: Deployment, *, count: int, processes: int = 2) -> Push:
    with deployment.worker("scaling", concurrency=processes) as worker:
        warm_up(deployment, worker)
        return push(deployment, worker, inputs.images(count), label=f"scaling{processes}")


def figures(raw: dict[str, Any], one: Push, plain_push: Push | None,
            two: Push | None) -> dict[str, Any]:
    """The JSON figures of the three measurements (any of the last two may be skipped)."""
    found: dict[str, Any] = {
        "pipeline_images_per_s": rounded(one.images_per_s, 1),
        "pipeline_ratio": rounded(one.images_per_s / raw["raw_images_per_s"], 3),
        "pipeline_ratio_vs_recognize": rounded(
            one.images_per_s / raw["recognize_images_per_s"], 3),
        "pipeline_batch_sizes": {str(k): v for k, v in sorted(one.batch_sizes.items())},
        "per_job_cpu_ms": {k: rounded(v, 3) for k, v in one.per_job_ms().items()},
        "producer_submit_per_s": rounded(one.count / one.submit_seconds, 1),
    }
    if plain_push is not None:
        found["plain_images_per_s"] = rounded(plain_push.images_per_s, 1)
        found["batching_gain"] = rounded(one.images_per_s / plain_push.images_per_s, 2)
        found["plain_per_job_cpu_ms"] = {k: rounded(v, 3)
                                         for k, v in plain_push.per_job_ms().items()}
    if two is not None:
        found["two_process_images_per_s"] = rounded(two.images_per_s, 1)
        found["scaling_2_over_1"] = rounded(two.images_per_s / one.images_per_s, 2)
        found["two_process_per_job_cpu_ms"] = {k: rounded(v, 3)
                                               for k, v in two.per_job_ms().items()}
    return found


def print_figures(raw: dict[str, Any], one: Push, plain_push: Push | None,
                  two: Push | None) -> dict[str, Any]:
    found = figures(raw, one, plain_push, two)
    rows: list[list[Any]] = [
        ["bare forward pass, one process (a)", raw["count"], raw["raw_images_per_s"], "-"],
        ["Recognizer.recognize, one process", raw["count"], raw["recognize_images_per_s"],
         "-"],
        ["pipeline, 1 batching worker process (b)", one.count, one.images_per_s,
         f"b/a = {found['pipeline_ratio']:.3f} (goal >= 0.9)"],
    ]
    if plain_push is not None:
        rows.append(["pipeline, plain task, 1 image/message", plain_push.count,
                     plain_push.images_per_s,
                     f"batching gain {found['batching_gain']:.2f}x (goal >= 8x)"])
    if two is not None:
        rows.append(["pipeline, 2 batching worker processes", two.count, two.images_per_s,
                     f"{found['scaling_2_over_1']:.2f}x one process"])
    emit("Pipeline throughput (producer -> Redis -> worker -> Postgres, submit to last result)",
         ["path", "images", "images/s", "note"], rows,
         {k: found[k] for k in found if not k.endswith("cpu_ms")})
    runs = [("1 batching process", one), ("plain task", plain_push), ("2 batching processes", two)]
    cost_rows = [[name, *(run.per_job_ms()[p] for p in PARTS)]
                 for name, run in runs if run is not None]
    emit("CPU milliseconds per job, by part of the path ('model' is the pool's recognize() "
         "time, inside 'pool')", ["run", *PARTS], cost_rows,
         {k: found[k] for k in found if k.endswith("cpu_ms")})
    return found


def main() -> None:
    from benchmarks import forward

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--no-plain", action="store_true", help="skip the batching gain")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 2-process run")
    args = parser.parse_args()
    count = 300 if args.quick else 2000
    with deployment(args) as deployed:
        from hanzi_grader.settings import get_settings

        raw = forward.run(model_dir=deployed.model_dir, count=count,
                          batch_size=get_settings().flush_every, passes=1 if args.quick else 3)
        forward.print_figures(raw)
        one = efficiency(deployed, count=count)
        plain_push = None if args.no_plain else batching_gain(deployed, count=count // 2)
        two = None if args.no_scaling else scaling(deployed, count=count)
        print_figures(raw, one, plain_push, two)


if __name__ == "__main__":
    main()
