"""Rendering the desk's pages: the Jinja2 environment (autoescaped), the headers every page
carries, and the answers for a missing sign-in, a bad form token and a missing page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hanzi_grader.api.web.session import BadToken, SignInRequired, csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Autoescaping on for every template: notes, names and file names are the users' own text.
environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                 undefined=jinja2.StrictUndefined)
# Everything comes from this origin; no inline script or style, so injected markup cannot run.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
VERDICT_NAMES = {"correct": "correct", "wrong_character": "wrong character",
                 "incomplete_or_unclear": "incomplete or unclear", "unknown": "unknown",
                 "failed": "not graded", "blank": "blank"}


class PageError(Exception):
    """A page that cannot be shown: answered as an HTML page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def percent(score: float | None) -> str:
    return "—" if score is None else f"{score:.0%}"


environment.filters["percent"] = percent
environment.filters["verdict_name"] = lambda verdict: VERDICT_NAMES.get(verdict, verdict)


def render(request: Request, template: str, *, status: int = 200, **context: Any
           ) -> HTMLResponse:
    """``template`` with ``context``, the session's CSRF token and the page headers."""
    def url(name: str, **params: Any) -> str:
        # The path alone: links stay on whatever scheme and host the browser came by.
        return request.url_for(name, **params).path

    html = environment.get_template(template).render(
        request=request, url=url, csrf=csrf_token(request), **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _error: SignInRequired) -> Response:
        return RedirectResponse(request.url_for("sign_in_page"), status_code=303)

    @app.exception_handler(BadToken)
    async def _bad_token(request: Request, _error: BadToken) -> Response:
        return render(request, "error.html", status=403, title="Form expired",
                      message="The form had expired or came from elsewhere. Go back, reload "
                              "the page and send it again.")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, error: PageError) -> Response:
        return render(request, "error.html", status=error.status, title="Not here",
                      message=error.message)
