"""History per tenant, health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from tests.api.test_jobs import multipart, store_attempt


def test_history_shows_the_tenants_attempts_only(api):
    # Given student s1 at two tenants, one attempt each, and one sent with producer.client
    acme, globex = api.new_key("acme"), api.new_key("globex")
    multipart(api, acme, job_id="a1")
    multipart(api, globex, job_id="g1")
    store_attempt("a1", api.sent[0]["tenant"])
    store_attempt("g1", api.sent[1]["tenant"], verdict="wrong_character")
    store_attempt("c1", 1)

    history = api.http.get("/v1/students/s1/history", headers=acme).json()

    assert [a["job_id"] for a in history["attempts"]] == ["a1"]
    assert history["attempt_count"] == 1 and history["graded_count"] == 1
    assert history["per_character"] == [{"char": "永", "attempts": 1, "correct": 1,
                                         "accuracy": 1.0}]
    default = api.http.get("/v1/students/s1/history", headers=api.new_key("default")).json()
    assert [a["job_id"] for a in default["attempts"]] == ["c1"]


def test_healthz_answers_without_a_key(api):
    assert api.http.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_which_check_fails(api):
    # Given the embedded setup and no worker running
    response = api.http.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["workers"]["ok"] is False and "no worker" in checks["workers"]["error"]


def test_metrics_count_requests_by_route_template_not_by_id(api):
    key = api.new_key()
    multipart(api, key, job_id="m1")
    api.http.get("/v1/jobs/m1", headers=key)

    text = api.http.get("/metrics").text

    assert 'hanzi_api_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"}' in text
    assert 'hanzi_jobs_submitted_total{via="api"}' in text
    assert "hanzi_api_request_duration_seconds_bucket" in text
    assert "m1" not in text


def test_the_openapi_document_describes_both_bodies_and_the_key(api):
    document = api.http.get("/openapi.json").json()

    post = document["paths"]["/v1/jobs"]["post"]
    assert set(post["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "202" in post["responses"] and "429" in post["responses"]
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert {"/v1/jobs/{job_id}", "/v1/students/{student}/history", "/healthz",
            "/readyz", "/metrics"} <= set(document["paths"])
    assert api.http.get("/docs").status_code == 200


def test_the_response_models_carry_every_field_the_records_have():
    # The API's pydantic models filter what they return: a field added to attempts or to the
    # history (such as the missing stroke) must be added to them too, or the API drops it.
    from hanzi_grader.api.schemas import History, JobResult

    from hanzi_grader.attempts import History as HistoryRecord
    from hanzi_grader.attempts import attempt_to_dict
    from hanzi_grader.schema import Attempt

    assert set(attempt_to_dict(Attempt(job_id="j", status="done"))) <= set(JobResult.model_fields)
    assert set(HistoryRecord("s", [], [], []).to_dict()) <= set(History.model_fields)
