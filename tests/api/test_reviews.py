"""POST /v1/jobs/{id}/review: the override is kept beside the machine's verdict."""

from __future__ import annotations

from hanzi_grader import database, sheet_records
from tests.api.test_jobs import assert_problem, multipart, store_attempt
from tests.api.test_sheets import (  # noqa: F401  (fixtures: a scan fits the limits)
    api_limits,
    grade_as_the_worker_would,
    post_sheet,
    sent_sheets,
)


def test_a_review_is_stored_and_shown_with_the_job(api):
    # Given a graded job the machine called wrong
    key = api.new_key("acme")
    multipart(api, key, job_id="j1", target="永")
    store_attempt("j1", api.sent[0]["tenant"], verdict="wrong_character")

    # When a teacher reviews it
    answer = api.http.post("/v1/jobs/j1/review", headers=key,
                           json={"verdict": "correct", "note": "a fine 永"})

    # Then the result keeps the machine's verdict and carries the review, now and on GET
    assert answer.status_code == 200, answer.text
    for result in (answer.json()["result"], api.http.get("/v1/jobs/j1", headers=key).json()[
            "result"]):
        assert result["verdict"] == "wrong_character"
        review = result["review"]
        assert review["verdict"] == "correct" and review["note"] == "a fine 永"
        assert review["reviewer"].startswith("acme/") and review["at"]

    # And a second review replaces the first
    again = api.http.post("/v1/jobs/j1/review", headers=key,
                          json={"verdict": "incomplete_or_unclear"}).json()
    assert again["result"]["review"]["verdict"] == "incomplete_or_unclear"
    assert again["result"]["review"]["note"] is None


def test_an_unreviewed_job_has_a_null_review(api):
    key = api.new_key()
    multipart(api, key, job_id="plain")
    store_attempt("plain", api.sent[0]["tenant"])
    assert api.http.get("/v1/jobs/plain", headers=key).json()["result"]["review"] is None


def test_another_tenants_job_is_404_a_bad_verdict_422_and_an_ungraded_job_409(api):
    acme, globex = api.new_key("acme"), api.new_key("globex")
    multipart(api, acme, job_id="queued")
    multipart(api, acme, job_id="failed")
    store_attempt("failed", api.sent[0]["tenant"], status="failed", verdict=None,
                  error="no ink", error_type="InvalidImage")

    assert_problem(api.http.post("/v1/jobs/queued/review", headers=globex,
                                 json={"verdict": "correct"}), 404, "no job")
    assert_problem(api.http.post("/v1/jobs/queued/review", headers=acme,
                                 json={"verdict": "great"}), 422, "verdict")
    assert_problem(api.http.post("/v1/jobs/queued/review", headers=acme,
                                 json={"verdict": "correct", "mark": 1}), 422, "mark")
    assert_problem(api.http.post("/v1/jobs/queued/review", headers=acme,
                                 json={"verdict": "correct"}), 409, "no graded result")
    assert_problem(api.http.post("/v1/jobs/failed/review", headers=acme,
                                 json={"verdict": "correct"}), 409, "no graded result")
    assert api.http.post("/v1/jobs/queued/review",
                         json={"verdict": "correct"}).status_code == 401


def test_reviewing_a_sheets_cell_rescores_the_sheet_and_shows_on_it(api, sent_sheets):  # noqa: F811
    # Given a sheet posted by acme and graded: one of two cells correct, one blank
    acme, globex = api.new_key("acme"), api.new_key("globex")
    sheet_id = post_sheet(api, acme, student="li", expect="你好学生").json()["sheet_id"]
    with database.transaction() as session:
        tenant_id = sheet_records.sheet_tenant(session=session, sheet_id=sheet_id)
    grade_as_the_worker_would(sheet_id, tenant_id)
    before = api.http.get(f"/v1/sheets/{sheet_id}", headers=acme).json()
    wrong = next(c for c in before["cells"] if c["verdict"] == "wrong_character")
    assert before["score"] == round(1 / 3, 4) and wrong["job_id"] == f"{sheet_id}-r01c01"

    # When acme's teacher says the wrong cell was right (globex cannot)
    path = f"/v1/jobs/{wrong['job_id']}/review"
    assert_problem(api.http.post(path, headers=globex, json={"verdict": "correct"}), 404,
                   "no job")
    assert api.http.post(path, headers=acme, json={"verdict": "correct"}).status_code == 200

    # Then the sheet is rescored and the cell shows both verdicts, as does the job
    after = api.http.get(f"/v1/sheets/{sheet_id}", headers=acme).json()
    assert after["score"] == round(2 / 3, 4) and after["practise"] == ["生"]
    cell = next(c for c in after["cells"] if c.get("job_id") == wrong["job_id"])
    assert cell["verdict"] == "wrong_character" and cell["review"]["verdict"] == "correct"
    job = api.http.get(f"/v1/jobs/{wrong['job_id']}", headers=acme).json()
    assert job["result"]["review"]["verdict"] == "correct"
    assert api.http.get(f"/v1/jobs/{wrong['job_id']}", headers=globex).status_code == 404
