"""``/healthz``, ``/readyz`` and ``/metrics``: for the orchestrator and Prometheus, no key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from hanzi_grader.api.schemas import Readiness
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from hanzi_grader import database

router = APIRouter(tags=["operations"])
# Workers answer at once (their main process, even mid-batch); the probe waits this long for
# all of them, so a readiness probe's own timeout should be 2 s or more.
PING_TIMEOUT_S = 0.5


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz() -> JSONResponse:
    """Ready to take jobs: the broker and the database answer, and a worker consumes."""
    checks = {"broker": _check(_broker), "database": _check(_database),
              "workers": _check(_workers)}
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics of this API process."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _check(probe: Any) -> dict[str, Any]:
    try:
        return {"ok": True} | probe()
    except Exception as error:  # any failure means not ready; say which and why
        return {"ok": False, "error": f"{type(error).__name__}: {str(error).splitlines()[0]}"
                if str(error) else type(error).__name__}


def _broker() -> dict[str, Any]:
    from hanzi_grader.worker.app import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
    return {}


def _database() -> dict[str, Any]:
    with database.transaction() as session:
        session.execute(text("SELECT 1"))
    return {}


def _workers() -> dict[str, Any]:
    """The workers that consume the grading queue."""
    from hanzi_grader.producer.workers import workers_running

    names = workers_running()
    if not names:
        raise RuntimeError("no worker is consuming the grading queue")
    return {"names": names}
