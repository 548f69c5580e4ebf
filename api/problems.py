"""Every error as an RFC 9457 problem document, never a stack trace.

``{"type", "title", "status", "detail"}`` with ``application/problem+json``. Errors the caller
can fix say what was received; unexpected ones are logged here and answered with 500 alone.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from hanzi_grader.producer.client import broker_full
from kombu.exceptions import OperationalError as BrokerUnreachable
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from hanzi_grader import database
from hanzi_grader.errors import (
    HanziError,
    InvalidImage,
    InvalidJob,
    InvalidTarget,
    ModelUnavailable,
    TransientError,
)
from hanzi_grader.job_records import JobIdTaken
from hanzi_grader.reviews import InvalidVerdict, NotGraded

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


class Problem(Exception):
    """An error answered as a problem document with ``status``."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}


def problem_response(status: int, detail: str, *, title: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase,
            "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# Our errors -> the status that tells a client what to do: fix the request (4xx) or retry (503).
STATUS_OF_ERROR: tuple[tuple[type[HanziError], int], ...] = (
    (JobIdTaken, 409),
    (NotGraded, 409),  # nothing to review yet: a conflict with the job's state
    (InvalidVerdict, 422),
    (InvalidImage, 422),
    (InvalidTarget, 422),
    (InvalidJob, 422),
    (TransientError, 503),
    (ModelUnavailable, 503),
)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every exception that escapes a route as a problem document."""

    @app.exception_handler(Problem)
    async def _problem(_request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.detail, title=error.title,
                                headers=error.headers)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, error: HTTPException) -> JSONResponse:
        return problem_response(error.status_code, str(error.detail),
                                headers=dict(error.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(422, validation_detail(error.errors()))

    @app.exception_handler(HanziError)
    async def _hanzi(_request: Request, error: HanziError) -> JSONResponse:
        status = next((s for kind, s in STATUS_OF_ERROR if isinstance(error, kind)), 500)
        return problem_response(status, str(error))

    @app.exception_handler(BrokerUnreachable)
    async def _broker(_request: Request, error: BrokerUnreachable) -> JSONResponse:
        if broker_full(error):
            logger.error("broker full: %s", error)
            return problem_response(503, "the job queue is full; nothing was queued, try again "
                                         "later", headers={"Retry-After": "30"})
        logger.error("broker unreachable: %s", error)
        return problem_response(503, "the job queue is unreachable; try again shortly",
                                headers={"Retry-After": "5"})

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: SQLAlchemyError) -> JSONResponse:
        if database.is_transient(error):
            logger.error("database unreachable: %s", str(error).splitlines()[0])
            return problem_response(503, "the database is unreachable; try again shortly",
                                    headers={"Retry-After": "5"})
        return await _unexpected(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return problem_response(500, "internal error; it has been logged")


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one sentence, without the input (it may be an image)."""
    parts = []
    for error in errors:
        where = ""
        for part in error.get("loc", ()):
            if part in ("body", "query"):
                continue
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else part
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
