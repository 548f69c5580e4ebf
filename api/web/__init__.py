"""The teacher's desk: web pages served by the API's own app, under ``/desk``.

A teacher signs in with their tenant's API key, uploads a stack of scans, watches them graded,
sees the class and reviews the cells the verifier was unsure of. Plain server-rendered HTML
(Jinja2, autoescaped) over the same functions the API's routes call; a few lines of
JavaScript add keys to the review page, which works without them.
"""

from __future__ import annotations

from fastapi import FastAPI
from hanzi_grader.api.web import assets, classroom, review, signin
from hanzi_grader.api.web.classroom import UPLOAD_PATH
from hanzi_grader.api.web.pages import install_page_handlers
from hanzi_grader.api.web.session import install_sessions

from hanzi_grader.settings import Settings

__all__ = ["UPLOAD_PATH", "install_desk"]


def install_desk(app: FastAPI, settings: Settings) -> None:
    """Serve the desk's pages, its assets and its session cookie from ``app``."""
    install_sessions(app, settings)
    install_page_handlers(app)
    for module in (signin, classroom, review, assets):
        app.include_router(module.router)
    app.mount(assets.STATIC_URL, assets.static_files(), name="desk-static")
