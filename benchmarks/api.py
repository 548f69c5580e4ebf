"""Jobs per second through the HTTP API against the same jobs through ``producer.client``.

Both paths feed one warm batching worker and are timed from the first submission to the
moment the last job's attempt is committed: for the client path when its result is published
(right after the commit), for the API paths (which keep no result in Redis: they read
Postgres) when the last attempt row appears, polled every 20 ms. So the figure compares the
front doors, not how a client learns of the result. The single-job API path posts each image
as multipart from ``--clients`` threads, each with its own keep-alive connection, to a
`hanzi api` process; the batch path posts ``POST /v1/jobs/batch`` bodies of 100 jobs from
two threads; the client path is ``submit_many`` over one broker connection.
Goal: an API path at 0.8 of the client path or better.

Run alone: ``python -m benchmarks.api [--quick]``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from benchmarks import inputs
from benchmarks.driver import Deployment, common_arguments, deployment, push, warm_up
from benchmarks.report import emit, rounded
from benchmarks.services import Worker, stop, tail

GOAL = 0.8
CLIENTS = 8
BATCH = 100  # jobs per POST /v1/jobs/batch, its most
BATCH_CLIENTS = 2
API_PROCESSES = 2  # as docker-compose.yml runs it
START_TIMEOUT_S = 60


@contextmanager
def api_server(deployed: Deployment, *, processes: int = 1) -> Iterator[str]:
    """`hanzi api` on a free port of this machine, on the deployment; its base URL."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = deployed.logs / "api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hanzi_grader", "api", "--port", str(port),
             "--workers", str(processes), "--log-level", "warning"],
            env=deployed.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # services.stop signals the whole session
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"hanzi api exited {process.returncode}:\n{tail(log)}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"hanzi api did not serve within {START_TIMEOUT_S} s")
            time.sleep(0.2)
        yield url
    finally:
        stop(process)


def api_key() -> str:
    """A key for the benchmark, without a rate limit worth the name."""
    from hanzi_grader import database, tenants

    with database.transaction() as session:
        return tenants.create_api_key(session=session, tenant="benchmark",
                                      rate_limit=10**9).key


def push_api(deployed: Deployment, url: str, key: str, images: list[bytes], *, label: str,
             clients: int = CLIENTS) -> dict[str, float]:
    """Post ``images`` one job a request, as multipart, and wait for every stored attempt."""
    job_ids = _job_ids(label, len(images))
    requests = [{"data": {"student": label, "job_id": job_ids[i]},
                 "files": {"image": ("c.png", images[i], "image/png")}}
                for i in range(len(images))]
    return _timed_posts(deployed, url, key, "/v1/jobs", requests, label=label,
                        count=len(images), clients=clients)


def push_api_batches(deployed: Deployment, url: str, key: str, images: list[bytes], *,
                     label: str, clients: int = BATCH_CLIENTS) -> dict[str, float]:
    """Post ``images`` as JSON batches of BATCH jobs and wait for every stored attempt."""
    import base64

    jobs = [{"image": base64.b64encode(image).decode("ascii"), "student": label,
             "job_id": job_id} for image, job_id in zip(images, _job_ids(label, len(images)),
                                                        strict=True)]
    requests = [{"json": {"jobs": jobs[start:start + BATCH]}}
                for start in range(0, len(jobs), BATCH)]
    return _timed_posts(deployed, url, key, "/v1/jobs/batch", requests, label=label,
                        count=len(images), clients=clients)


def _job_ids(label: str, count: int) -> list[str]:
    return [f"{label}-{i}-{uuid.uuid4().hex[:8]}" for i in range(count)]


def _timed_posts(deployed: Deployment, url: str, key: str, path: str,
                 requests: list[dict[str, Any]], *, label: str, count: int,
                 clients: int) -> dict[str, float]:
    """POST each of ``requests`` (httpx keyword arguments) to ``path`` from ``clients``
    threads, each with its own keep-alive connection; then wait for ``count`` attempts."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}

    def post(share: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for request in share:
                response = http.post(path, **request)
                if response.status_code != 202:
                    raise RuntimeError(f"POST {path} answered {response.status_code}: "
                                       f"{response.text[:300]}")

    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, [requests[start::clients] for start in range(clients)]))
    submitted = time.time()
    finished = _stored(deployed.database_url, label, count)
    return {"seconds": finished - started, "submit_seconds": submitted - started}


def _stored(database_url: str, student: str, count: int, timeout: float = 900) -> float:
    """When ``count`` attempts of ``student`` are in Postgres (polled)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as connection:
            while True:
                found = connection.execute(text(
                    "SELECT count(*), count(*) FILTER (WHERE status <> 'done') FROM attempts "
                    "WHERE student_id = :s"), {"s": student}).one()
                connection.rollback()  # a fresh snapshot for the next look
                if found[0] >= count:
                    if found[1]:
                        raise RuntimeError(f"{found[1]} of {count} API jobs failed")
                    return time.time()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{count - found[0]} of {count} API jobs not stored "
                                       f"after {timeout:g} s")
                time.sleep(0.02)
    finally:
        engine.dispose()


def run(deployed: Deployment, worker: Worker, *, count: int,
        clients: int = CLIENTS) -> dict[str, Any]:
    """The three paths, one after the other, on the same warm worker; each API path twice,
    around the client path, so that a drift of the machine's load averages out."""
    warm_up(deployed, worker)
    key = api_key()
    images = inputs.images(count)
    with api_server(deployed, processes=API_PROCESSES) as url:
        push_api(deployed, url, key, inputs.images(32), label="api-warmup", clients=clients)
        first = push_api(deployed, url, key, images, label="api-a", clients=clients)
        batched = push_api_batches(deployed, url, key, images, label="api-batch-a")
        direct = push(deployed, worker, images, label="client")
        batched_again = push_api_batches(deployed, url, key, images, label="api-batch-b")
        second = push_api(deployed, url, key, images, label="api-b", clients=clients)

    def mean(a: dict[str, float], b: dict[str, float], what: str) -> float:
        return (a[what] + b[what]) / 2

    return {"count": count, "clients": clients,
            "client_images_per_s": count / direct.seconds,
            "client_submit_per_s": count / direct.submit_seconds,
            "api_images_per_s": count / mean(first, second, "seconds"),
            "api_submit_per_s": count / mean(first, second, "submit_seconds"),
            "api_batch_images_per_s": count / mean(batched, batched_again, "seconds"),
            "api_batch_submit_per_s": count / mean(batched, batched_again, "submit_seconds")}


def print_figures(raw: dict[str, Any]) -> dict[str, Any]:
    client = raw["client_images_per_s"]
    found = {"api_images_per_s": rounded(raw["api_images_per_s"], 1),
             "api_submit_per_s": rounded(raw["api_submit_per_s"], 1),
             "api_batch_images_per_s": rounded(raw["api_batch_images_per_s"], 1),
             "client_images_per_s": rounded(client, 1),
             "api_over_client": rounded(raw["api_images_per_s"] / client, 3),
             "api_batch_over_client": rounded(raw["api_batch_images_per_s"] / client, 3)}
    rows = [["producer.client (submit_many)", found["client_images_per_s"],
             rounded(raw["client_submit_per_s"], 1), 1.0],
            [f"HTTP API, POST /v1/jobs ({raw['clients']} clients, multipart)",
             found["api_images_per_s"], found["api_submit_per_s"], found["api_over_client"]],
            [f"HTTP API, POST /v1/jobs/batch ({BATCH_CLIENTS} clients, {BATCH} a batch)",
             found["api_batch_images_per_s"], rounded(raw["api_batch_submit_per_s"], 1),
             found["api_batch_over_client"]]]
    emit(f"Front doors, {raw['count']} jobs each, submit -> result stored (goal: API / client "
         f">= {GOAL})", ["path", "jobs/s end to end", "submitted/s", "/ client"], rows, found)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--images", type=int, default=None,
                        help="jobs per path [default: 1000; 200 with --quick]")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args()
    count = args.images or (200 if args.quick else 1000)
    with deployment(args) as deployed, deployed.worker("api") as worker:
        print_figures(run(deployed, worker, count=count, clients=args.clients))


if __name__ == "__main__":
    main()
