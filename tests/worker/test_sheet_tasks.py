"""The whole-sheet task called directly: a scan becomes cell jobs; the last cell scores it."""

from __future__ import annotations

import base64
import io

import pytest
from celery_batches import SimpleRequest
from hanzi_grader.scans.layout import LayoutError
from hanzi_grader.worker import sheet_dispatch, sheet_tasks, tasks
from hanzi_grader.worker.jobs import make_payload
from PIL import Image

from hanzi_grader import database
from hanzi_grader.errors import InvalidJob
from hanzi_grader.schema import Sheet
from tests.producer.sheets.conftest import make_sheet
from tests.training.conftest import stroke_data  # noqa: F401  (the shared fixture)

LAYOUT = {"expect": "永水", "columns": 4}
KINDS = {(0, 0): "correct", (0, 1): "blank", (0, 2): "correct", (0, 3): "correct",
         (1, 0): "correct", (1, 1): "wrong_character", (1, 2): "blank", (1, 3): "correct"}


def encoded_scan(image) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The cell jobs the task sends, captured instead of going to a broker."""
    jobs: list[dict] = []

    def send_jobs(payloads, on_sent=None):
        for payload in payloads:
            jobs.append({"image": base64.b64decode(payload["image"]), "job_id": payload["job_id"],
                         "cell": tuple(payload["cell"]), "target": payload["target"],
                         "student": payload["student"], "sheet": payload["sheet"]})

    monkeypatch.setattr(sheet_dispatch, "send_jobs", send_jobs)
    return jobs


def as_request(job: dict) -> SimpleRequest:
    payload = make_payload(job["image"], job_id=job["job_id"], student=job["student"],
                           target=job["target"], sheet=job["sheet"], cell=job["cell"])
    return SimpleRequest(id=job["job_id"], name=tasks.GRADE_TASK, args=(),
                         kwargs={"job": payload}, delivery_info={}, hostname="test@host",
                         ignore_result=False, reply_to=None, correlation_id=None,
                         request_dict={})


@pytest.mark.usefixtures("stroke_data")
def test_a_sheet_becomes_cell_jobs_and_the_last_stored_cell_scores_it(wired_tasks, sent):
    # Given a scan of two rows (永, 水) with two blank cells
    scan = make_sheet(21, rows=2, columns=4, expect="永水", level=0.2, kinds=KINDS).image

    # When the sheet task accepts it
    answer = sheet_tasks.accept_sheet({"student": "s1", "image": encoded_scan(scan),
                                       "layout": LAYOUT}, sheet_id="sheet-t1")

    # Then each written cell went out as a job for its expected character
    assert answer["error"] is None
    assert {(c["row"], c["col"]) for c in answer["cells"] if c["blank"]} == {(0, 1), (1, 2)}
    assert sorted((j["cell"], j["target"]) for j in sent) == sorted(
        ((r, c), "永水"[r]) for r, c in KINDS if KINDS[r, c] != "blank")
    assert all(j["job_id"] == f"sheet-t1-r{j['cell'][0]:02d}c{j['cell'][1]:02d}" for j in sent)
    with database.transaction(wired_tasks["url"]) as session:
        sheet = session.get(Sheet, "sheet-t1")
        assert (sheet.status, sheet.cells_sent, sheet.student_id) == ("grading", 6, "s1")

    # When the worker stores all but one cell, the sheet waits; the last one finishes it
    tasks.handle_batch([as_request(j) for j in sent[:-1]])
    with database.transaction(wired_tasks["url"]) as session:
        assert session.get(Sheet, "sheet-t1").status == "grading"
    tasks.handle_batch([as_request(sent[-1])])
    with database.transaction(wired_tasks["url"]) as session:
        sheet = session.get(Sheet, "sheet-t1")
        # The stub recognizer calls every 永 correct and every 水 wrong: 3 of 8 cells
        assert (sheet.status, sheet.score) == ("done", round(3 / 8, 4))
        assert sheet.practise == ["水", "永"]


@pytest.mark.usefixtures("stroke_data")
def test_a_sheet_without_its_grid_is_answered_and_stored_as_failed(wired_tasks, sent):
    blank_page = make_sheet(3, rows=1).image * 0 + 250

    answer = sheet_tasks.accept_sheet({"student": "s2", "image": encoded_scan(blank_page),
                                       "layout": LAYOUT, "source": "week3.png"},
                                      sheet_id="sheet-t2")

    assert answer["error"].startswith("week3.png: no grid found")
    assert answer["cells"] == [] and sent == []
    with database.transaction(wired_tasks["url"]) as session:
        sheet = session.get(Sheet, "sheet-t2")
        assert (sheet.status, sheet.error) == ("failed", answer["error"])


@pytest.mark.parametrize(
    ("payload", "error", "says"),
    [
        ("junk", InvalidJob, "must be a JSON object, got str"),
        ({"student": "s", "image": "", "layout": LAYOUT, "x": 1}, InvalidJob, "unknown field"),
        ({"image": "", "layout": LAYOUT}, InvalidJob, "student must be a non-empty string"),
        ({"student": "s", "image": "", "layout": {"expect": "A"}}, LayoutError, "'A'"),
    ],
)
def test_malformed_messages_fail_the_task_with_a_reason(payload, error, says):
    with pytest.raises(error, match=says):
        sheet_tasks.accept_sheet(payload, sheet_id="sheet-bad")


def test_one_queue_bound_to_its_own_exchange_carries_both_tasks():
    from hanzi_grader.worker.app import (
        GRADE_QUEUE,
        GRADE_TASK,
        SHEET_TASK,
        WEBHOOK_QUEUE,
        WEBHOOK_TASK,
        app,
    )

    bindings = {name: (q.exchange.name, q.routing_key) for name, q in app.amqp.queues.items()}

    # The webhooks' queue is apart, consumed by `hanzi webhook-worker` only, never by the
    # grading worker (which consumes GRADE_QUEUE alone)
    assert bindings == {GRADE_QUEUE: (GRADE_QUEUE, GRADE_QUEUE),
                        WEBHOOK_QUEUE: (WEBHOOK_QUEUE, WEBHOOK_QUEUE)}
    assert app.amqp.router.route({}, WEBHOOK_TASK)["queue"].name == WEBHOOK_QUEUE
    assert app.amqp.router.route({}, SHEET_TASK)["queue"].name == GRADE_QUEUE
    assert app.amqp.router.route({}, GRADE_TASK)["queue"].name == GRADE_QUEUE
