"""``/desk/sign-in`` and ``/desk/sign-out``: a teacher's session from their tenant's API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hanzi_grader.api.web.pages import render
from hanzi_grader.api.web.session import check_csrf, sign_in, sign_out

router = APIRouter(prefix="/desk", include_in_schema=False)


@router.get("/sign-in", name="sign_in_page")
def sign_in_page(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", error=None)


@router.post("/sign-in", name="sign_in")
def sign_in_form(request: Request, key: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "") -> Response:
    # The sign-in form carries a token too: a page elsewhere must not sign a teacher in with
    # its own key (login CSRF), so that their uploads go to someone else's tenant.
    check_csrf(request, csrf)
    if not sign_in(request, key):
        return render(request, "sign_in.html", status=401,
                      error="That key is unknown or revoked. Keys come from "
                            "`hanzi api-key create --tenant NAME`.")
    return RedirectResponse(request.url_for("class_page"), status_code=303)


@router.post("/sign-out", name="sign_out")
def sign_out_form(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf)
    sign_out(request)
    return RedirectResponse(request.url_for("sign_in_page"), status_code=303)
