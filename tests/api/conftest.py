"""The API in-process (Starlette's test client) on a migrated SQLite database; jobs sent to
the queue are caught instead, so these tests need no broker or worker (the integration tests
in tests/integration/test_api.py have both)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hanzi_grader.producer import client as producer_client

from hanzi_grader import database, tenants
from hanzi_grader.settings import get_settings


@dataclass
class Api:
    """A test client, the jobs it sent to the queue, and a way to make keys."""

    http: TestClient
    sent: list[dict[str, Any]]
    new_key: Callable[..., dict[str, str]]


@pytest.fixture
def api_limits() -> tuple[int, int]:
    """(HANZI_MAX_IMAGE_BYTES, HANZI_API_MAX_REQUEST_BYTES); a test module may override it."""
    return 1000, 4096


@pytest.fixture
def api(tmp_path, monkeypatch, api_limits) -> Iterator[Api]:
    monkeypatch.setenv("HANZI_HOME", str(tmp_path))
    monkeypatch.setenv("HANZI_DATABASE_URL", f"sqlite:///{tmp_path / 'hanzi.db'}")
    monkeypatch.setenv("HANZI_MAX_IMAGE_BYTES", str(api_limits[0]))
    monkeypatch.setenv("HANZI_API_MAX_REQUEST_BYTES", str(api_limits[1]))
    monkeypatch.delenv("HANZI_BROKER_URL", raising=False)
    get_settings.cache_clear()
    database.upgrade()
    sent: list[dict[str, Any]] = []

    def fake_submit_jobs(jobs: list[producer_client.Job], **options: Any) -> list[str]:
        sent.extend(vars(job) | options for job in jobs)
        return [job.job_id for job in jobs]

    monkeypatch.setattr(producer_client, "submit_jobs", fake_submit_jobs)

    def new_key(tenant: str = "acme", rate_limit: int | None = None) -> dict[str, str]:
        with database.transaction() as session:
            made = tenants.create_api_key(session=session, tenant=tenant,
                                          rate_limit=rate_limit)
        return {"Authorization": f"Bearer {made.key}"}

    from hanzi_grader.api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as http:
        yield Api(http, sent, new_key)
    database.forget_engines()
    get_settings.cache_clear()
