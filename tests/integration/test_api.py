"""The HTTP API as a platform uses it: a real uvicorn process (`hanzi api`), a real worker,
the real Redis and Postgres. Every wait polls with a deadline."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hanzi_grader.producer.workers import stop_worker
from sqlalchemy import create_engine, text

from hanzi_grader.webhooks import verify
from tests.integration.conftest import ROOT, hanzi, json_lines, wait_for
from tests.worker.images import character_png

pytestmark = pytest.mark.integration

SERVER_START_TIMEOUT_S = 60
RESULT_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api_env(service_env) -> dict[str, str]:
    """The service's environment, with webhooks to this machine allowed."""
    return service_env | {"HANZI_API_CALLBACK_HOSTS": "127.0.0.1"}


@pytest.fixture(scope="module")
def api_url(api_env, tmp_path_factory) -> Iterator[str]:
    """`hanzi api` serving on a free port of this machine."""
    yield from serve_api(api_env, tmp_path_factory.mktemp("api") / "api.log")


def serve_api(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start `hanzi api` on a free port, yield its URL once it serves, stop it after."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hanzi_grader", "api", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"hanzi api exited {process.returncode}:\n{log_path.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(serving, timeout=SERVER_START_TIMEOUT_S, what="hanzi api to serve")
        yield url
    finally:
        stop_worker(process)  # SIGTERM, then kill: uvicorn shuts down gracefully on it


@pytest.fixture(scope="module")
def webhook_worker(api_env, tmp_path_factory) -> Iterator[subprocess.Popen]:
    """`hanzi webhook-worker`, ready to consume (stopped with this module, so that the other
    modules' tests see the grading worker alone)."""
    log_path = tmp_path_factory.mktemp("webhooks") / "webhooks.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hanzi_grader", "webhook-worker", "-n", "itest-hooks@%h"],
            env=api_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is None and "ready." in log_path.read_text(),
                 timeout=SERVER_START_TIMEOUT_S, what="the webhook worker to be ready")
        yield process
    finally:
        stop_worker(process)


def new_key(env: dict[str, str], tenant: str, *extra: str) -> dict[str, str]:
    done = hanzi("api-key", "create", "--tenant", tenant, *extra, env=env)
    return {"Authorization": f"Bearer {done.stdout.splitlines()[-1]}"}


class Listener:
    """A platform's webhook endpoint on this machine: answers 500 first, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.received.append((dict(self.headers), body))
                self.send_response(listener.statuses.pop(0) if listener.statuses else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hanzi-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def acme(service_env) -> dict[str, str]:
    # A generous limit: polling a slow machine must not meet the default one.
    return new_key(service_env, "acme", "--rate-limit", "100000")


def poll_done(api_url: str, key: dict[str, str], status_url: str) -> dict:
    def finished() -> dict | None:
        response = httpx.get(status_url, headers=key, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        return body if body["status"] != "queued" else None

    assert status_url.startswith(api_url)
    return wait_for(finished, timeout=RESULT_TIMEOUT_S, what=f"{status_url} to finish",
                    interval=0.25)


def post_form(api_url: str, key: dict[str, str], image: bytes, **fields) -> httpx.Response:
    return httpx.post(f"{api_url}/v1/jobs", headers=key, timeout=30, data=fields,
                      files={"image": ("char.png", image, "image/png")})


def test_a_multipart_job_is_graded_by_the_worker_and_polled_to_done(worker, api_url, acme,
                                                                    rows):
    accepted = post_form(api_url, acme, character_png("永"), student="api-s1", target="永",
                         top_n="3")

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "queued"
    done = poll_done(api_url, acme, body["status_url"])
    assert done["job_id"] == body["job_id"] and done["status"] == "done"
    result = done["result"]
    assert {"verdict", "predicted", "candidates", "error"} <= set(result)
    assert len(result["candidates"]) == 3 and result["error"] is None
    assert result["predicted"] == result["candidates"][0]["char"]
    [row] = rows("job_id = :job_id", job_id=body["job_id"])
    assert row["tenant_id"] > 1 and row["student_id"] == "api-s1" and row["target"] == "永"


def test_a_json_job_with_a_base64_image_is_graded(worker, api_url, acme):
    accepted = httpx.post(f"{api_url}/v1/jobs", headers=acme, timeout=30, json={
        "image": base64.b64encode(character_png("水")).decode(), "student": "api-s2"})

    assert accepted.status_code == 202, accepted.text
    done = poll_done(api_url, acme, accepted.json()["status_url"])
    assert done["status"] == "done" and done["result"]["verdict"] is None  # no target


def test_a_batch_of_jobs_for_several_students_is_graded(worker, api_url, acme, rows):
    chars = "大小上下"
    jobs = [{"image": base64.b64encode(character_png(char)).decode(), "target": char,
             "student": f"api-batch-{i % 2}", "job_id": f"api-batch-{i}"}
            for i, char in enumerate(chars)]

    accepted = httpx.post(f"{api_url}/v1/jobs/batch", headers=acme, timeout=30,
                          json={"jobs": jobs})

    assert accepted.status_code == 202, accepted.text
    answers = accepted.json()["jobs"]
    assert [a["job_id"] for a in answers] == [f"api-batch-{i}" for i in range(4)]
    for answer in answers:
        assert poll_done(api_url, acme, answer["status_url"])["status"] == "done"
    stored = rows("job_id LIKE 'api-batch-%'")
    assert sorted((r["job_id"], r["student_id"], r["target"]) for r in stored) == [
        (f"api-batch-{i}", f"api-batch-{i % 2}", char) for i, char in enumerate(chars)]


def test_a_repeated_submission_is_graded_once(worker, api_url, acme, rows):
    image = character_png("人")
    first = post_form(api_url, acme, image, student="api-dup", job_id="api-dup-1")
    second = post_form(api_url, acme, image, student="api-dup", job_id="api-dup-1")

    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"] == "api-dup-1"
    poll_done(api_url, acme, first.json()["status_url"])
    after = post_form(api_url, acme, image, student="api-dup", job_id="api-dup-1")
    assert after.json()["status"] == "done"
    assert len(rows("job_id = 'api-dup-1'")) == 1


def test_history_is_the_tenants_and_the_default_tenant_sees_producer_client_jobs(
        worker, api_url, acme, service_env, tmp_path):
    # Given a student graded through the API, and the same student id through `hanzi submit`
    accepted = post_form(api_url, acme, character_png("大"), student="api-hist", target="大")
    poll_done(api_url, acme, accepted.json()["status_url"])
    image = tmp_path / "da.png"
    image.write_bytes(character_png("大"))
    [submitted] = json_lines(hanzi("submit", str(image), "--student", "api-hist", "--wait",
                                   "--json", env=service_env).stdout)

    # When each tenant asks for the history
    mine = httpx.get(f"{api_url}/v1/students/api-hist/history", headers=acme).json()
    default = httpx.get(f"{api_url}/v1/students/api-hist/history",
                        headers=new_key(service_env, "default")).json()

    # Then each sees its own attempts, in `hanzi history --json`'s shape
    assert [a["job_id"] for a in mine["attempts"]] == [accepted.json()["job_id"]]
    assert mine["per_character"][0]["char"] == "大" and mine["attempt_count"] == 1
    assert [a["job_id"] for a in default["attempts"]] == [submitted["job_id"]]


def test_keys_see_their_own_tenant_only(worker, api_url, acme, service_env):
    accepted = post_form(api_url, acme, character_png("中"), student="api-t")
    status_url = accepted.json()["status_url"]
    globex = new_key(service_env, "globex")

    other = httpx.get(status_url, headers=globex)
    missing = httpx.get(status_url)
    wrong = httpx.get(status_url, headers={"Authorization": "Bearer hzk_not-a-key"})

    assert other.status_code == 404 and other.json()["status"] == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert missing.status_code == wrong.status_code == 401
    assert httpx.get(status_url, headers=acme).status_code == 200


def test_an_oversized_upload_is_413(api_url, acme):
    response = post_form(api_url, acme, b"\0" * (12 * 1024 * 1024), student="api-big")

    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]


def test_a_burst_over_the_rate_limit_is_429_with_retry_after(api_url, service_env):
    key = new_key(service_env, "bursty", "--rate-limit", "5")

    codes = [httpx.get(f"{api_url}/v1/jobs/none", headers=key).status_code for _ in range(7)]

    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    limited = httpx.get(f"{api_url}/v1/jobs/none", headers=key)
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_readiness_metrics_and_openapi(worker, api_url):
    ready = httpx.get(f"{api_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"]["names"][0].startswith("itest@")

    metrics = httpx.get(f"{api_url}/metrics").text
    assert "hanzi_api_requests_total" in metrics and "hanzi_queue_depth" in metrics

    document = httpx.get(f"{api_url}/openapi.json").json()
    assert "/v1/jobs" in document["paths"]


def test_the_api_process_needs_no_tensorflow(api_url):
    # The web process must stay light: grading happens in the workers only.
    pids = subprocess.run(["pgrep", "-f", f"hanzi_grader api --port {api_url.rsplit(':', 1)[1]}"],
                          capture_output=True, text=True).stdout.split()
    maps = "".join(Path(f"/proc/{pid}/maps").read_text() for pid in pids
                   if Path(f"/proc/{pid}/maps").exists() and int(pid) != os.getpid())
    assert pids and "tensorflow" not in maps


def test_a_webhook_is_signed_retried_after_a_500_and_recorded(worker, webhook_worker, api_url,
                                                              api_env, postgres_url):
    # Given a platform whose endpoint fails once, and a key whose secret signs its webhooks
    listener = Listener([500])
    made = json.loads(hanzi("api-key", "create", "--tenant", "hooked", "--json",
                            env=api_env).stdout)
    key = {"Authorization": f"Bearer {made['key']}"}
    try:
        # When a job with its callback URL is graded
        accepted = post_form(api_url, key, character_png("永"), student="api-hook",
                             target="永", callback_url=listener.url)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]

        # Then the endpoint is called twice (the retry after the 500), each signed
        wait_for(lambda: len(listener.received) >= 2, timeout=RESULT_TIMEOUT_S,
                 what="the webhook and its retry")
    finally:
        listener.server.shutdown()
    for headers, body in listener.received:
        assert verify(made["webhook_secret"], body, headers["Hanzi-Signature"])
    (first, body), (second, _) = listener.received
    assert first["Hanzi-Delivery"] == second["Hanzi-Delivery"]
    event = json.loads(body)
    assert event["job_id"] == job_id and event["status"] == "done"
    assert event == {"event": "job.finished"} | httpx.get(
        f"{api_url}/v1/jobs/{job_id}", headers=key).json()
    # and each try is recorded
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        found = connection.execute(text(
            "SELECT try_number, status_code, outcome FROM webhook_deliveries "
            "WHERE job_id = :job_id ORDER BY id"), {"job_id": job_id}).all()
    engine.dispose()
    assert found == [(1, 500, "retrying"), (2, 200, "delivered")]


def test_a_callback_to_a_host_not_allowed_is_refused(api_url, acme):
    response = post_form(api_url, acme, character_png("永"), student="api-hook",
                         callback_url="http://10.0.0.1/steal")

    assert response.status_code == 422
    assert "not allowed" in response.json()["detail"]


def test_a_sheet_is_graded_by_the_workers_and_drawn(worker, api_url, acme, rows):
    scan = ROOT / "examples" / "sheets" / "li-ming_week3.jpg"
    layout = {"expect": "你好学生", "columns": 6, "model_columns": [0]}

    accepted = httpx.post(f"{api_url}/v1/sheets", headers=acme, timeout=30,
                          data={"student": "api-sheet", "layout": json.dumps(layout)},
                          files={"image": (scan.name, scan.read_bytes(), "image/jpeg")})

    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["status_url"]
    sheet = wait_for(lambda: (body := httpx.get(status_url, headers=acme, timeout=10).json())
                     ["status"] in ("done", "failed") and body,
                     timeout=RESULT_TIMEOUT_S, what="the sheet to be graded", interval=0.5)
    assert sheet["status"] == "done", sheet["error"]
    assert sheet["student"] == "api-sheet" and 0 <= sheet["score"] <= 1
    assert len(sheet["cells"]) == 4 * 5  # the model column is not graded
    cell_rows = rows("sheet_id = :sheet_id", sheet_id=accepted.json()["sheet_id"])
    assert cell_rows and all(r["tenant_id"] > 1 for r in cell_rows)
    page = httpx.get(sheet["annotated"], headers=acme, timeout=60)
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")


def test_a_graded_sheet_is_posted_to_its_callback(worker, webhook_worker, api_url, api_env):
    listener = Listener([])
    made = json.loads(hanzi("api-key", "create", "--tenant", "hooked-sheets", "--json",
                            env=api_env).stdout)
    key = {"Authorization": f"Bearer {made['key']}"}
    scan = ROOT / "examples" / "sheets" / "li-ming_week3.jpg"
    try:
        accepted = httpx.post(f"{api_url}/v1/sheets", headers=key, timeout=30, data={
            "student": "api-sheet-hook", "expect": "你好学生", "callback_url": listener.url},
            files={"image": (scan.name, scan.read_bytes(), "image/jpeg")})
        assert accepted.status_code == 202, accepted.text
        wait_for(lambda: listener.received, timeout=RESULT_TIMEOUT_S,
                 what="the sheet's webhook")
    finally:
        listener.server.shutdown()
    [(headers, body)] = listener.received
    assert headers["Hanzi-Event"] == "sheet.finished"
    assert verify(made["webhook_secret"], body, headers["Hanzi-Signature"])
    event = json.loads(body)
    sheet = httpx.get(accepted.json()["status_url"], headers=key).json()
    assert event["sheet_id"] == sheet["sheet_id"] and event["status"] == sheet["status"]
    assert event["result"]["score"] == sheet["score"]
    assert len(event["result"]["cells"]) == len(sheet["cells"])
