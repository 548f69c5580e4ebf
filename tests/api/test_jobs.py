"""POST /v1/jobs and GET /v1/jobs/{id}: both bodies, idempotency, tenants, keys, limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from hanzi_grader import attempts, database
from tests.api.conftest import Api

PNG = b"\x89PNG\r\n\x1a\n-not-really-but-small"
PROBLEM = "application/problem+json"


def multipart(api: Api, key: dict, image: bytes = PNG, **fields):
    fields.setdefault("student", "s1")
    return api.http.post("/v1/jobs", headers=key,
                         files={"image": ("a.png", image, "image/png")}, data=fields)


def store_attempt(job_id: str, tenant_id: int, **columns) -> None:
    now = datetime.now(UTC)
    row = {"job_id": job_id, "tenant_id": tenant_id, "student_id": "s1", "status": "done",
           "target": "永", "predicted": [{"char": "永", "confidence": 0.9}],
           "predicted_char": "永", "confidence": 0.9, "verdict": "correct",
           "created_at": now, "processed_at": now} | columns
    with database.transaction() as session:
        attempts.record_attempts(session=session, rows=[row])


def assert_problem(response, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and says in body["detail"]
    assert "Traceback" not in response.text


def test_a_multipart_job_is_queued_for_its_tenant_and_polled_to_done(api):
    # Given a key, When an image is posted as a form
    key = api.new_key("acme")
    accepted = multipart(api, key, target="永", top_n="3", job_id="job-1")

    # Then it is accepted and sent to the queue with the tenant's id
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"job_id": "job-1", "status": "queued",
                               "status_url": "http://testserver/v1/jobs/job-1"}
    [sent] = api.sent
    assert sent["image"] == PNG and sent["student"] == "s1" and sent["target"] == "永"
    assert sent["top_n"] == 3 and sent["job_id"] == "job-1" and sent["tenant"] >= 2
    assert api.http.get("/v1/jobs/job-1", headers=key).json() == {
        "job_id": "job-1", "status": "queued", "result": None}

    # When the worker has stored its attempt, Then the status holds the result
    store_attempt("job-1", sent["tenant"])
    status = api.http.get("/v1/jobs/job-1", headers=key).json()
    assert status["status"] == "done"
    result = status["result"]
    assert result["verdict"] == "correct" and result["predicted"] == "永"
    assert result["candidates"] == [{"char": "永", "confidence": 0.9}]
    assert result["error"] is None and result["job_id"] == "job-1"


def test_a_json_job_carries_its_image_in_base64(api):
    key = api.new_key()
    accepted = api.http.post("/v1/jobs", headers=key, json={
        "image": base64.b64encode(PNG).decode(), "student": "s2", "top_n": 2})

    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    assert len(job_id) == 32
    assert api.sent[0]["image"] == PNG and api.sent[0]["top_n"] == 2


def test_a_failed_job_reports_its_error(api):
    key = api.new_key()
    multipart(api, key, job_id="bad-1")
    store_attempt("bad-1", api.sent[0]["tenant"], status="failed", predicted=None,
                  predicted_char=None, verdict=None, error="no ink", error_type="InvalidImage")

    status = api.http.get("/v1/jobs/bad-1", headers=key).json()
    assert status["status"] == "failed"
    assert status["result"]["error"] == "no ink"


def test_repeating_a_job_id_answers_the_first_job_and_a_different_job_gets_409(api):
    key = api.new_key()
    first = multipart(api, key, job_id="same")
    store_attempt("same", api.sent[0]["tenant"])

    again = multipart(api, key, job_id="same")
    other = multipart(api, key, image=PNG + b"!", job_id="same")

    assert again.status_code == 202 and again.json() == first.json() | {"status": "done"}
    assert len(api.sent) == 1  # graded once: the repeat sent nothing
    assert_problem(other, 409, "already used")


def test_another_tenants_job_is_not_found_and_its_id_cannot_be_taken(api):
    acme, globex = api.new_key("acme"), api.new_key("globex")
    multipart(api, acme, job_id="acme-job")

    assert_problem(api.http.get("/v1/jobs/acme-job", headers=globex), 404, "no job")
    assert_problem(multipart(api, globex, job_id="acme-job"), 409, "already used")
    assert_problem(api.http.get("/v1/jobs/never-sent", headers=acme), 404, "no job")


def test_a_job_id_used_through_producer_client_cannot_be_taken(api):
    store_attempt("client-job", 1)  # the default tenant's, without a job row

    assert_problem(multipart(api, api.new_key(), job_id="client-job"), 409, "already used")


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dXNlcjpwdw=="])
def test_a_missing_or_wrong_key_is_401(api, header):
    api.new_key()
    headers = {"Authorization": header} if header else {}

    response = api.http.get("/v1/jobs/x", headers=headers)

    assert_problem(response, 401, "API key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(multipart(api, headers), 401, "API key")
    assert api.sent == []


def test_an_oversized_request_is_413_before_it_is_read(api):
    key = api.new_key()
    assert_problem(multipart(api, key, image=b"x" * 5000), 413, "over the limit of 4096")
    assert_problem(api.http.post("/v1/jobs", headers=key, json={
        "image": base64.b64encode(b"x" * 4000).decode(), "student": "s1"}), 413, "4096")
    # A body without a Content-Length is counted as it arrives
    chunked = api.http.post("/v1/jobs", headers=key | {"content-type": "application/json"},
                            content=(b"x" * 1024 for _ in range(8)))
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413, "passed the limit of 4096 bytes")
    assert api.sent == []


def test_an_image_over_the_image_limit_is_413(api):
    assert_problem(multipart(api, api.new_key(), image=b"x" * 1001), 413,
                   "1001 bytes, over the limit of 1000 bytes")


@pytest.mark.parametrize(("fields", "says"), [
    ({"target": "x"}, "not one of the 3755"),
    ({"top_n": "0"}, "top_n must be an integer 1..100"),
    ({"top_n": "many"}, "top_n must be an integer"),
    ({"student": ""}, "student"),
    ({"job_id": "j" * 65}, "job id must be"),
    ({"callback_url": "https://example.org/hook"}, "host 'example.org' is not allowed"),
    ({"callback_url": "ftp://127.0.0.1/hook"}, "must be an http(s) URL"),
])
def test_bad_fields_are_422_with_what_was_received(api, fields, says):
    assert_problem(multipart(api, api.new_key(), **fields), 422, says)
    assert api.sent == []


def test_bad_json_bodies_are_422(api):
    key = api.new_key()
    assert_problem(api.http.post("/v1/jobs", headers=key, json={"student": "s1"}), 422,
                   "image")
    assert_problem(api.http.post("/v1/jobs", headers=key, json={"image": "%%", "student": "s"}),
                   422, "base64")
    assert_problem(api.http.post("/v1/jobs", headers=key | {"content-type": "application/json"},
                                 content=b"{"), 422, "not JSON")
    assert_problem(api.http.post("/v1/jobs", headers=key, content=b"x"), 415, "multipart")
    assert_problem(api.http.post("/v1/jobs", headers=key, json={
        "image": "iVBORw0=", "student": "s", "topn": 3}), 422, "topn")


def test_an_unknown_form_field_is_422(api):
    assert_problem(multipart(api, api.new_key(), targte="永"), 422, "unknown field(s) targte")


def test_a_burst_over_the_keys_rate_limit_is_429_with_retry_after(api):
    key = api.new_key(rate_limit=3)
    codes = [api.http.get("/v1/jobs/x", headers=key).status_code for _ in range(4)]

    assert codes == [404, 404, 404, 429]
    limited = api.http.get("/v1/jobs/x", headers=key)
    assert_problem(limited, 429, "3 requests a minute")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another key of the same tenant has its own budget
    assert api.http.get("/v1/jobs/x", headers=api.new_key()).status_code == 404


def test_an_unexpected_error_is_a_500_problem_without_a_trace(api, monkeypatch):
    from hanzi_grader import job_records

    def broken(**_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(job_records, "tenant_job", broken)
    response = api.http.get("/v1/jobs/x", headers=api.new_key())

    assert_problem(response, 500, "internal error")
    assert "secret internals" not in response.text


def test_a_callback_to_an_allowed_host_is_kept_with_the_key_that_signs_it(api, monkeypatch):
    from hanzi_grader.schema import Job
    from hanzi_grader.settings import get_settings

    monkeypatch.setattr(get_settings(), "api_callback_hosts", ["hooks.example.org"])
    accepted = multipart(api, api.new_key(), job_id="cb-1",
                         callback_url="https://hooks.example.org/hanzi")

    assert accepted.status_code == 202, accepted.text
    with database.transaction() as session:
        job = session.get(Job, "cb-1")
        assert job.callback_url == "https://hooks.example.org/hanzi"
        assert job.api_key_id is not None


def test_a_full_job_queue_is_a_503_that_says_so(api, monkeypatch):
    from hanzi_grader.producer import client as producer_client
    from kombu.exceptions import OperationalError

    def full(_jobs, **_options) -> list[str]:  # what kombu raises for Redis's OOM reply
        raise OperationalError("command not allowed when used memory > 'maxmemory'.")

    monkeypatch.setattr(producer_client, "submit_jobs", full)
    response = multipart(api, api.new_key(), student="s1")

    assert_problem(response, 503, "the job queue is full")
    assert int(response.headers["Retry-After"]) > 0


def batch_job(image: bytes = PNG, **fields) -> dict:
    return {"image": base64.b64encode(image).decode(), "student": "s1"} | fields


def test_a_batch_is_queued_in_order_each_job_with_its_own_fields(api):
    key = api.new_key("acme")
    jobs = [batch_job(job_id="b-0", target="永"), batch_job(PNG + b"1", student="s2", top_n=2),
            batch_job(PNG + b"2", student="s3", job_id="b-2")]

    accepted = api.http.post("/v1/jobs/batch", headers=key, json={"jobs": jobs})

    assert accepted.status_code == 202, accepted.text
    answers = accepted.json()["jobs"]
    assert [a["job_id"] for a in answers][::2] == ["b-0", "b-2"] and len(answers) == 3
    assert {a["status"] for a in answers} == {"queued"}
    assert answers[1]["status_url"] == f"http://testserver/v1/jobs/{answers[1]['job_id']}"
    assert [(s["job_id"], s["student"], s["target"], s["top_n"]) for s in api.sent] == [
        ("b-0", "s1", "永", 5), (answers[1]["job_id"], "s2", None, 2), ("b-2", "s3", None, 5)]
    assert api.sent[1]["image"] == PNG + b"1" and {s["tenant"] for s in api.sent} != {None}
    assert api.http.get("/v1/jobs/b-2", headers=key).json()["status"] == "queued"


def test_a_batch_may_exceed_the_single_request_limit(api):
    # Five images of 1000 bytes: over the 4096-byte limit of POST /v1/jobs, not of a batch
    jobs = [batch_job(bytes([i]) * 1000) for i in range(5)]
    accepted = api.http.post("/v1/jobs/batch", headers=api.new_key(), json={"jobs": jobs})

    assert accepted.status_code == 202, accepted.text
    assert len(api.sent) == 5


@pytest.mark.parametrize(("second", "status", "says"), [
    ({"target": "x"}, 422, "jobs[1]: target 'x' is not one of the 3755"),
    ({"image": "%%"}, 422, "jobs[1]: image is not valid base64"),
    ({"image": base64.b64encode(b"x" * 1001).decode()}, 413, "jobs[1]: image is 1001 bytes"),
    ({"job_id": "b-0"}, 422, "jobs[1]: job id 'b-0' repeats jobs[0]"),
    ({"student": None}, 422, "jobs[1].student"),
    ({"callback_url": "https://example.org/hook"}, 422, "jobs[1]: callback_url host 'example.org'"),
])
def test_one_refused_job_refuses_the_batch_and_names_it(api, second, status, says):
    key = api.new_key()
    jobs = [batch_job(job_id="b-0"), batch_job(PNG + b"1") | second]

    assert_problem(api.http.post("/v1/jobs/batch", headers=key, json={"jobs": jobs}),
                   status, says)
    assert api.sent == []
    assert_problem(api.http.get("/v1/jobs/b-0", headers=key), 404, "no job")


def test_a_batch_taking_another_tenants_job_id_records_nothing(api):
    acme, globex = api.new_key("acme"), api.new_key("globex")
    multipart(api, acme, job_id="acme-job")
    jobs = [batch_job(job_id="globex-job"), batch_job(job_id="acme-job")]

    assert_problem(api.http.post("/v1/jobs/batch", headers=globex, json={"jobs": jobs}),
                   409, "jobs[1]: job id 'acme-job' is already used")
    assert len(api.sent) == 1
    assert_problem(api.http.get("/v1/jobs/globex-job", headers=globex), 404, "no job")
    # A batch of one names its job too
    assert_problem(api.http.post("/v1/jobs/batch", headers=globex,
                                 json={"jobs": [batch_job(job_id="acme-job")]}),
                   409, "jobs[0]: job id 'acme-job' is already used")


def test_repeating_a_batch_sends_only_what_is_not_graded(api):
    key = api.new_key()
    jobs = [batch_job(job_id="r-0"), batch_job(PNG + b"1", job_id="r-1")]
    first = api.http.post("/v1/jobs/batch", headers=key, json={"jobs": jobs})
    store_attempt("r-0", api.sent[0]["tenant"])

    again = api.http.post("/v1/jobs/batch", headers=key, json={"jobs": jobs})

    assert again.status_code == 202, again.text
    assert [a["status"] for a in again.json()["jobs"]] == ["done", "queued"]
    assert [a["job_id"] for a in again.json()["jobs"]] == [
        a["job_id"] for a in first.json()["jobs"]]
    # r-1 waits still, so it is sent again under its id (the worker grades it once)
    assert [s["job_id"] for s in api.sent] == ["r-0", "r-1", "r-1"]


@pytest.mark.parametrize(("body", "says"), [
    ({"jobs": []}, "jobs: List should have at least 1 item"),
    ({"jobs": [batch_job()] * 101}, "jobs: List should have at most 100 items"),
    ({"jobs": [batch_job()], "extra": 1}, "extra: Extra inputs are not permitted"),
    ({}, "jobs: Field required"),
])
def test_a_batch_out_of_bounds_is_422(api, body, says):
    assert_problem(api.http.post("/v1/jobs/batch", headers=api.new_key(), json=body), 422, says)
    assert api.sent == []


def test_a_batch_needs_a_key(api):
    assert_problem(api.http.post("/v1/jobs/batch", json={"jobs": [batch_job()]}), 401, "API key")


def test_a_batch_counts_each_job_against_the_rate_limit(api):
    key = api.new_key(rate_limit=5)
    assert api.http.post("/v1/jobs/batch", headers=key, json={
        "jobs": [batch_job(bytes([i])) for i in range(4)]}).status_code == 202

    limited = api.http.post("/v1/jobs/batch", headers=key, json={"jobs": [batch_job(b"a")] * 2})
    assert_problem(limited, 429, "a batch of 2 jobs counts 2")
    assert int(limited.headers["retry-after"]) >= 1
    assert len(api.sent) == 4


def test_a_batch_larger_than_the_rate_limit_is_422(api):
    too_many = {"jobs": [batch_job(bytes([i])) for i in range(4)]}
    assert_problem(api.http.post("/v1/jobs/batch", headers=api.new_key(rate_limit=3),
                                 json=too_many), 422, "send at most 3 at once")
