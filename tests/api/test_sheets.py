"""POST /v1/sheets and GET /v1/sheets/{id}: a sheet recorded for its tenant, read back as
`hanzi grade-sheet --json` prints it, and its annotated page drawn from the kept scan."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from hanzi_grader.producer import client as producer_client
from PIL import Image

from hanzi_grader import attempts, database, sheet_records
from hanzi_grader.settings import PACKAGE_ROOT
from tests.api.test_jobs import assert_problem

SCAN = (PACKAGE_ROOT / "examples" / "sheets" / "li-ming_week3.jpg").read_bytes()
LAYOUT = {"expect": "你好学生", "columns": 6, "model_columns": [0]}


@pytest.fixture
def api_limits() -> tuple[int, int]:
    return len(SCAN) + 1, 2 * len(SCAN)


@pytest.fixture
def sent_sheets(api, monkeypatch):
    sent = []
    monkeypatch.setattr(producer_client, "submit_sheet",
                        lambda image, **options: sent.append(options) or options["sheet_id"])
    return sent


def post_sheet(api, key, **fields):
    return api.http.post("/v1/sheets", headers=key, data=fields,
                         files={"image": ("week3.jpg", SCAN, "image/jpeg")})


def grade_as_the_worker_would(sheet_id: str, tenant_id: int) -> None:
    """What the sheet task and the batches do: start the sheet, store its cells, finish it."""
    now = datetime.now(UTC)
    with database.transaction() as session:
        sheet_records.start_sheet(session=session, sheet_id=sheet_id, student="li",
                                  source="week3.jpg", layout=LAYOUT, cells_sent=2,
                                  blank_cells=[[3, 5, "生"]])
        attempts.record_attempts(session=session, rows=[
            {"job_id": f"{sheet_id}-r00c01", "tenant_id": tenant_id, "student_id": "li",
             "sheet_id": sheet_id, "cell_row": 0, "cell_col": 1, "target": "你",
             "status": "done", "verdict": "correct", "predicted_char": "你",
             "similarity": 0.91, "created_at": now, "processed_at": now},
            {"job_id": f"{sheet_id}-r01c01", "tenant_id": tenant_id, "student_id": "li",
             "sheet_id": sheet_id, "cell_row": 1, "cell_col": 1, "target": "好",
             "status": "done", "verdict": "wrong_character", "predicted_char": "女",
             "similarity": 0.2, "created_at": now, "processed_at": now}])
        sheet_records.finish_sheet(session=session, sheet_id=sheet_id)


def test_a_sheet_is_queued_then_read_back_graded_with_its_page(api, sent_sheets):
    key = api.new_key("acme")
    accepted = post_sheet(api, key, student="li", expect="你好学生")

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    sheet_id = body["sheet_id"]
    assert body["status"] == "queued" and body["status_url"].endswith(f"/v1/sheets/{sheet_id}")
    assert sent_sheets[0]["sheet_id"] == sheet_id and sent_sheets[0]["student"] == "li"
    assert api.http.get(f"/v1/sheets/{sheet_id}", headers=key).json()["status"] == "queued"
    assert_problem(api.http.get(f"/v1/sheets/{sheet_id}/annotated.png", headers=key), 409,
                   "queued")

    # When the workers have graded it
    with database.transaction() as session:
        tenant_id = sheet_records.sheet_tenant(session=session, sheet_id=sheet_id)
    grade_as_the_worker_would(sheet_id, tenant_id)

    # Then it reads as `hanzi grade-sheet --json` prints it
    sheet = api.http.get(f"/v1/sheets/{sheet_id}", headers=key).json()
    assert sheet["status"] == "done" and sheet["student"] == "li"
    assert sheet["score"] == pytest.approx(1 / 3, abs=1e-4) and sheet["practise"] == ["好", "生"]
    assert [(c["row"], c["col"], c["verdict"]) for c in sheet["cells"]] == [
        (0, 1, "correct"), (1, 1, "wrong_character"), (3, 5, "blank")]
    assert sheet["annotated"].endswith(f"/v1/sheets/{sheet_id}/annotated.png")
    page = api.http.get(sheet["annotated"], headers=key)
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    width, height = Image.open(io.BytesIO(page.content)).size
    assert width == Image.open(io.BytesIO(SCAN)).size[0] and height > 100


def test_the_same_scan_is_one_sheet_per_tenant(api, sent_sheets):
    acme, globex = api.new_key("acme"), api.new_key("globex")
    first = post_sheet(api, acme, student="li", expect="你好学生").json()
    again = post_sheet(api, acme, student="li", layout='{"expect": "你好学生"}').json()
    other = post_sheet(api, globex, student="li", expect="你好学生").json()

    assert first["sheet_id"] == again["sheet_id"] != other["sheet_id"]
    assert_problem(api.http.get(first["status_url"], headers=globex), 404, "no sheet")
    assert_problem(api.http.get(f"{first['status_url']}/annotated.png", headers=globex), 404,
                   "no sheet")


@pytest.mark.parametrize(("fields", "says"), [
    ({"student": "li"}, "exactly one of expect"),
    ({"student": "li", "expect": "你", "layout": '{"expect": "你"}'}, "exactly one"),
    ({"student": "li", "layout": "{"}, "layout is not JSON"),
    ({"student": "li", "layout": '{"rows": 2}'}, "layout"),
    ({"expect": "你"}, "student"),
    ({"student": "li", "expect": "你", "callback_url": "http://x/"}, "host 'x' is not allowed"),
    ({"student": "li", "expect": "你", "callbackurl": "http://x/"}, "unknown field(s)"),
])
def test_a_bad_layout_or_student_is_422(api, sent_sheets, fields, says):
    assert_problem(post_sheet(api, api.new_key(), **fields), 422, says)
    assert sent_sheets == []


def test_a_json_sheet_carries_its_scan_in_base64(api, sent_sheets):
    import base64

    response = api.http.post("/v1/sheets", headers=api.new_key(), json={
        "image": base64.b64encode(SCAN).decode(), "student": "li", "layout": LAYOUT})

    assert response.status_code == 202, response.text
    assert sent_sheets[0]["layout"].to_dict()["columns"] == 6
