"""The bare model, in this process: the ceiling the pipeline is measured against.

- raw throughput: the forward pass alone over N preprocessed images, at the worker's batch size;
- the batch API (``Recognizer.recognize``: decode, preprocess, forward, top-n, verify);
- one image's forward pass, and the time of one batch by batch size (for planning GPU hosts).

Run alone: ``python -m benchmarks.forward [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import inputs
from benchmarks.report import emit, rounded

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def run(*, model_dir: Path, count: int, batch_size: int, passes: int = 3) -> dict[str, Any]:
    """Measure the bare model; the figures as a dict (see the module docstring)."""
    from hanzi_grader.models.recognizer import Recognizer

    recognizer = Recognizer.load(model_dir)
    # The compiled forward pass the recognizer (and so the worker) runs: nothing else.
    forward = recognizer._forward
    images = inputs.images(count)

    started = time.perf_counter()
    tensors = np.stack([recognizer.prepare(image) for image in images])
    preprocess_ms = (time.perf_counter() - started) * 1000 / count

    batches = [tensors[i:i + batch_size] for i in range(0, count, batch_size)]
    forward(batches[0])
    forward(tensors[:1])
    raw = statistics.median(_rate(lambda: [forward(b) for b in batches], count)
                            for _ in range(passes))
    byte_batches = [images[i:i + batch_size] for i in range(0, count, batch_size)]
    api = statistics.median(_rate(lambda: [recognizer.recognize(b) for b in byte_batches], count)
                            for _ in range(max(1, passes - 1)))
    batch_ms = {size: _median_ms(forward, np.resize(tensors, (size, *tensors.shape[1:])))
                for size in BATCH_SIZES}
    return {
        "architecture": recognizer.manifest.architecture,
        "model_version": recognizer.manifest.version,
        "runtime": recognizer.runtime,
        "count": count,
        "batch_size": batch_size,
        "raw_images_per_s": rounded(raw, 1),
        "recognize_images_per_s": rounded(api, 1),
        "preprocess_ms_per_image": rounded(preprocess_ms, 3),
        "single_forward_ms": rounded(batch_ms[1], 2),
        "batch_ms": {str(size): rounded(ms, 2) for size, ms in batch_ms.items()},
    }


def _rate(action, count: int) -> float:
    started = time.perf_counter()
    action()
    return count / (time.perf_counter() - started)


def _median_ms(forward, batch: np.ndarray, seconds: float = 1.5, most: int = 100) -> float:
    forward(batch)  # the first call of a new shape may allocate
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < most):
        started = time.perf_counter()
        forward(batch)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def print_figures(figures: dict[str, Any]) -> None:
    rows = [
        ["forward pass only", figures["batch_size"], figures["raw_images_per_s"]],
        ["Recognizer.recognize (decode+preprocess+forward)", figures["batch_size"],
         figures["recognize_images_per_s"]],
    ]
    emit(f"Bare model {figures['architecture']} in one process, {figures['count']} images "
         f"({inputs.describe()}); preprocessing {figures['preprocess_ms_per_image']} ms/image",
         ["path", "batch", "images/s"], rows,
         {k: figures[k] for k in ("raw_images_per_s", "recognize_images_per_s",
                                  "single_forward_ms", "preprocess_ms_per_image")})
    emit("Forward pass time by batch size (median)", ["batch", "ms/batch", "ms/image"],
         [[int(size), ms, ms / int(size)] for size, ms in figures["batch_ms"].items()],
         {"batch_ms": figures["batch_ms"]})


def main() -> None:
    from hanzi_grader.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 images, one pass")
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    settings = get_settings()
    figures = run(model_dir=args.model_dir or settings.model_dir,
                  count=300 if args.quick else 2000, batch_size=settings.flush_every,
                  passes=1 if args.quick else 3)
    print_figures(figures)


if __name__ == "__main__":
    main()
