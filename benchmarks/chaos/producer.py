"""A producer process of the chaos run: ``python -m benchmarks.chaos.producer SPEC``.

SPEC is JSON: ``{"prefix": "chaos", "index": 0, "producers": 2, "jobs": 10000, "rate": 50}``.
This producer sends job ids ``{prefix}-{i}`` for every i < jobs with i % producers == index,
each once, through ``producer.client.submit`` (the path `hanzi submit` takes), at ``rate``
jobs per second, so that sending goes on while the services are restarted. It never re-sends:
a submit that raises (after the client's own retries) is reported and the job left out.

On stdout, JSON Lines: ``{"sent": n}`` now and then and at the end, and
``{"failed": job_id, "error": "..."}`` for each submit that raised. On stderr, a line
``SENT_MARK job_id unix_time`` as each submit returns: when a job is lost, the moment it was
sent says which fault took it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

PROGRESS_EVERY = 10
SENT_MARK = "sent"
STUDENT = "chaos"


def job_ids(*, prefix: str, index: int, producers: int, jobs: int) -> list[str]:
    """The ids one producer sends: every ``producers``-th of ``jobs``, from ``index``."""
    return [job_id(prefix, i) for i in range(index, jobs, producers)]


def job_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def sent_times(log: str) -> dict[str, float]:
    """The moment each job was sent, from a producer's stderr."""
    found = {}
    for line in log.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == SENT_MARK:
            found[words[1]] = float(words[2])
    return found


def run(spec: dict[str, Any]) -> None:
    from hanzi_grader.producer import client

    from benchmarks import inputs

    ids = job_ids(prefix=spec["prefix"], index=spec["index"], producers=spec["producers"],
                  jobs=spec["jobs"])
    images = inputs.images(len(ids))
    interval = 1.0 / spec["rate"]
    started = time.monotonic()
    sent = 0
    for number, (image, each) in enumerate(zip(images, ids, strict=True)):
        time.sleep(max(0.0, started + number * interval - time.monotonic()))
        try:
            client.submit(image, student=STUDENT, job_id=each)
            sent += 1
            print(SENT_MARK, each, f"{time.time():.3f}", file=sys.stderr, flush=True)
        except Exception as error:  # counted as lost by the run; never sent again
            _emit({"failed": each, "error": f"{type(error).__name__}: {error}"})
        if (number + 1) % PROGRESS_EVERY == 0:
            _emit({"sent": sent})
    _emit({"sent": sent})


def _emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
