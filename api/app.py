"""The ASGI application: routes, error answers, body limit, metrics, built from the settings.

FastAPI on uvicorn: the ecosystem's default, with the OpenAPI document generated from the
pydantic bodies (``/openapi.json``, interactive at ``/docs``).
"""

from __future__ import annotations

from fastapi import FastAPI
from hanzi_grader.api.body_limit import BodySizeLimit
from hanzi_grader.api.metrics import RequestMetrics, register_queue_depth
from hanzi_grader.api.problems import install_problem_handlers
from hanzi_grader.api.rate_limit import rate_limiter
from hanzi_grader.api.routes import jobs, operations, reviews, sheets, students
from hanzi_grader.api.web import UPLOAD_PATH, install_desk

from hanzi_grader import __version__
from hanzi_grader.settings import Settings, get_settings

DESCRIPTION = """Grade handwritten Chinese characters from any language.

Submit an image with `POST /v1/jobs`, then poll its `status_url`. Authenticate with
`Authorization: Bearer <key>` (keys come from `hanzi api-key create --tenant NAME`).
Every error is an RFC 9457 problem document."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: the process's, from the environment)."""
    settings = settings or get_settings()
    app = FastAPI(title="hanzi-grader", version=__version__, description=DESCRIPTION)
    app.state.settings = settings
    app.state.rate_limiter = rate_limiter(settings.broker_url)
    install_problem_handlers(app)
    app.include_router(jobs.router)
    app.include_router(reviews.router)
    app.include_router(sheets.router)
    app.include_router(students.router)
    app.include_router(operations.router)
    install_desk(app, settings)  # the teacher's pages, under /desk
    # The last added runs first: metrics see even the 413s of the body limit.
    app.add_middleware(BodySizeLimit, max_bytes=settings.effective_api_max_request_bytes,
                       limits_by_path={UPLOAD_PATH: settings.web_max_upload_bytes,
                                       jobs.BATCH_PATH: settings.api_max_batch_bytes})
    app.add_middleware(RequestMetrics)
    register_queue_depth()
    return app
