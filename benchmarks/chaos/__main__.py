"""The chaos run of issue 25 (benchmarks/chaos/__init__.py): unique jobs sent while worker
processes are SIGKILLed and Redis and Postgres restart; then no job may be lost or doubled.

Progress and each fault go to stderr; the last line on stdout is one JSON object:
``{"jobs", "lost", "doubled", "worker_kills", "redis_restarts", "postgres_restarts",
"seconds"}``. Exits 1 when a job was lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.chaos.run import ChaosConfig, run


def main() -> None:
    from hanzi_grader.settings import SHIPPED_MODEL_DIR

    defaults = ChaosConfig(model_dir=Path(os.environ.get("HANZI_MODEL_DIR", SHIPPED_MODEL_DIR)))
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="unique job ids sent")
    parser.add_argument("--producers", type=int, default=defaults.producers,
                        help="producer processes")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="`hanzi worker` processes, one pool process each")
    parser.add_argument("--kills", type=int, default=defaults.kills,
                        help="SIGKILLs, of pool processes and of whole workers")
    parser.add_argument("--redis-restarts", type=int, default=defaults.redis_restarts)
    parser.add_argument("--postgres-restarts", type=int, default=defaults.postgres_restarts)
    parser.add_argument("--rate", type=float, default=defaults.rate,
                        help="jobs sent per second, all producers together [default: sending "
                             "lasts 8 s per kill, at least 30 s]")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the faults' kinds, moments and targets")
    parser.add_argument("--timeout", type=float, default=defaults.timeout,
                        help="seconds the jobs may take to drain once all are sent")
    parser.add_argument("--visibility-timeout", type=int, default=defaults.visibility_timeout,
                        help="HANZI_VISIBILITY_TIMEOUT of the workers")
    parser.add_argument("--model-dir", type=Path, default=defaults.model_dir,
                        help="model bundle [default: HANZI_MODEL_DIR, else the shipped one]")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep the logs here [default: a temporary folder, kept after a "
                             "loss]")
    args = parser.parse_args()
    config = ChaosConfig(**{k: v for k, v in vars(args).items()})
    summary = run(config, say=_say)
    print(json.dumps(summary), flush=True)
    sys.exit(1 if summary["lost"] or summary["doubled"] else 0)


def _say(line: str) -> None:
    print(f"chaos {time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
