"""deliver(): one signed POST per try, recorded, retried on failure, never redirected."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hanzi_grader.worker import webhooks as worker_webhooks
from sqlalchemy import select

from hanzi_grader import attempts, database, job_records, sheet_records, tenants, webhooks
from hanzi_grader.schema import Job, Sheet, WebhookDelivery
from hanzi_grader.settings import get_settings


class Receiver:
    """A local HTTP server answering each POST with the next status of ``statuses``."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://169.254.169.254/")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def graded_job(tmp_path, monkeypatch) -> Iterator[dict]:
    """A job with a callback URL, graded and stored, on a migrated SQLite database."""
    monkeypatch.setenv("HANZI_HOME", str(tmp_path))
    monkeypatch.setenv("HANZI_DATABASE_URL", f"sqlite:///{tmp_path / 'hanzi.db'}")
    monkeypatch.setenv("HANZI_API_CALLBACK_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    database.upgrade()
    receiver = Receiver([])
    with database.transaction() as session:
        key = tenants.create_api_key(session=session, tenant="acme")
        job_records.record_job(session=session, job_id="j1", tenant_id=key.tenant_id,
                               student="s1", image_sha256="0" * 64, target="永", top_n=5,
                               callback_url=receiver.url, api_key_id=key.key_id)
        now = datetime.now(UTC)
        attempts.record_attempts(session=session, rows=[{
            "job_id": "j1", "tenant_id": key.tenant_id, "student_id": "s1", "status": "done",
            "verdict": "correct", "predicted_char": "永", "created_at": now,
            "processed_at": now}])
    yield {"receiver": receiver, "secret": key.webhook_secret}
    receiver.server.shutdown()
    database.forget_engines()
    get_settings.cache_clear()


def tries() -> list[WebhookDelivery]:
    with database.transaction() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_delivery_is_signed_and_recorded(graded_job):
    outcome = worker_webhooks.deliver("j1", delivery_id="d1", try_number=1)

    assert outcome == webhooks.DELIVERED
    [(headers, body)] = graded_job["receiver"].received
    assert webhooks.verify(graded_job["secret"], body, headers["Hanzi-Signature"])
    assert headers["Hanzi-Delivery"] == "d1" and headers["Hanzi-Event"] == "job.finished"
    event = json.loads(body)
    assert event["job_id"] == "j1" and event["status"] == "done"
    assert event["result"]["verdict"] == "correct"
    [row] = tries()
    assert (row.outcome, row.status_code, row.try_number) == ("delivered", 200, 1)


def test_a_failed_try_is_retried_until_the_last(graded_job):
    graded_job["receiver"].statuses = [500]
    assert worker_webhooks.deliver("j1", delivery_id="d1", try_number=1) == webhooks.RETRYING
    last = len(worker_webhooks.RETRY_DELAYS_S) + 1
    graded_job["receiver"].statuses = [503]
    assert worker_webhooks.deliver("j1", delivery_id="d1", try_number=last) == webhooks.FAILED
    assert [(t.status_code, t.outcome) for t in tries()] == [(500, "retrying"), (503, "failed")]


def test_a_redirect_is_not_followed(graded_job):
    graded_job["receiver"].statuses = [302]
    assert worker_webhooks.deliver("j1", delivery_id="d1", try_number=1) == webhooks.RETRYING
    assert len(graded_job["receiver"].received) == 1
    assert tries()[0].status_code == 302


def test_a_host_taken_off_the_allow_list_is_refused_without_a_request(graded_job, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_callback_hosts", ["other.example.org"])

    assert worker_webhooks.deliver("j1", delivery_id="d1", try_number=1) == webhooks.FAILED
    assert graded_job["receiver"].received == []
    assert "not allowed" in tries()[0].error


def test_only_jobs_with_a_callback_are_queued(graded_job, monkeypatch):
    sent = []
    monkeypatch.setattr(worker_webhooks.app, "send_task",
                        lambda name, args, queue: sent.append((name, args[0], queue)))

    assert worker_webhooks.send_callbacks(["j1", "unknown"]) == ["j1"]
    assert sent == [("hanzi.deliver_webhook", "j1", "hanzi.webhooks")]


def test_a_graded_sheet_is_delivered_once_with_its_cells(graded_job, monkeypatch):
    # Given a sheet posted with a callback, then graded: one cell written, one left blank
    receiver = graded_job["receiver"]
    now = datetime.now(UTC)
    with database.transaction() as session:
        job = session.get(Job, "j1")
        sheet_records.queue_sheet(session=session, sheet_id="sh1", tenant_id=job.tenant_id,
                                  student="s1", source="week3.jpg", layout={"expect": "永"},
                                  scan=b"scan", callback_url=receiver.url,
                                  api_key_id=job.api_key_id)
        sheet_records.start_sheet(session=session, sheet_id="sh1", student="s1",
                                  source="week3.jpg", layout={"expect": "永"}, cells_sent=1,
                                  blank_cells=[[0, 2, "永"]])
        attempts.record_attempts(session=session, rows=[{
            "job_id": "sh1-r00c01", "tenant_id": job.tenant_id, "student_id": "s1",
            "sheet_id": "sh1", "cell_row": 0, "cell_col": 1, "target": "永",
            "status": "done", "verdict": "correct", "predicted_char": "永",
            "created_at": now, "processed_at": now}])
        sheet_records.finish_sheet(session=session, sheet_id="sh1")
        assert session.get(Sheet, "sh1").status == "done"
    sent = []
    monkeypatch.setattr(worker_webhooks.app, "send_task",
                        lambda name, args, queue: sent.append(args))

    # When the sheet is seen finished (twice: a later batch may see it again)
    assert worker_webhooks.send_sheet_callbacks(["sh1"]) == ["sh1"]
    outcome = worker_webhooks.deliver("sh1", delivery_id=sent[0][1], try_number=1,
                                      kind="sheet")

    # Then it is delivered, signed, with its score and cells, and not queued again
    assert outcome == webhooks.DELIVERED
    [(headers, body)] = receiver.received
    assert headers["Hanzi-Event"] == "sheet.finished"
    assert webhooks.verify(graded_job["secret"], body, headers["Hanzi-Signature"])
    event = json.loads(body)
    assert event["sheet_id"] == "sh1" and event["status"] == "done"
    assert event["result"]["score"] == 0.5
    assert [(c["col"], c["verdict"]) for c in event["result"]["cells"]] == [
        (1, "correct"), (2, "blank")]
    assert worker_webhooks.send_sheet_callbacks(["sh1"]) == []
    assert tries()[-1].sheet_id == "sh1" and tries()[-1].job_id is None
