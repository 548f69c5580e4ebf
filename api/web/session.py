"""Signing a teacher in with their tenant's API key: a signed session cookie, and its CSRF token.

The cookie (Starlette's SessionMiddleware: signed with itsdangerous, HttpOnly, SameSite=Lax)
holds the key's id, never the key; every page looks the key up again, so a revoked key signs
its teacher out at once. Every form carries the session's CSRF token in a hidden field.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from fastapi import FastAPI, Request
from hanzi_grader.api.reviewing import reviewer_name
from starlette.middleware.sessions import SessionMiddleware

from hanzi_grader import database, tenants
from hanzi_grader.schema import ApiKey, Tenant
from hanzi_grader.settings import Settings
from hanzi_grader.tenants import KeyOwner

SESSION_COOKIE = "hanzi_desk"
SESSION_SECONDS = 12 * 3600  # a school day; then the key is asked for again
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Teacher:
    """A signed-in teacher: the key they signed in with, and the names the pages show."""

    owner: KeyOwner
    tenant: str
    reviewer: str  # recorded with their reviews, as the API records it: tenant/key-prefix


class SignInRequired(Exception):
    """The page needs a signed-in teacher (answered with a redirect to the sign-in page)."""


class BadToken(Exception):
    """A form came without this session's CSRF token (answered 403)."""


def install_sessions(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SessionMiddleware, secret_key=session_secret(settings),
                       session_cookie=SESSION_COOKIE, max_age=SESSION_SECONDS, same_site="lax",
                       https_only=settings.web_secure_cookie)


def session_secret(settings: Settings) -> str:
    """HANZI_WEB_SECRET, or a random secret for this process alone."""
    if settings.web_secret:
        return settings.web_secret
    logger.warning("HANZI_WEB_SECRET is not set: the desk's sessions are signed with a random "
                   "secret, so they end when this process does and do not carry over to "
                   "other API processes (--workers N); set it to a long random string")
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, sent: object) -> None:
    """BadToken unless ``sent`` is this session's token."""
    token = request.session.get("csrf")
    if not (isinstance(token, str) and isinstance(sent, str)
            and secrets.compare_digest(token, sent)):
        raise BadToken()


def sign_in(request: Request, key: str) -> bool:
    """Start a session for the key's tenant; False for an unknown or revoked key."""
    with database.transaction() as session:
        owner = tenants.key_owner(session=session, key=key.strip())
    if owner is None:
        return False
    request.session.clear()  # a fresh session, and a fresh token, for whoever signs in
    request.session.update({"key_id": owner.key_id, "tenant_id": owner.tenant_id,
                            "csrf": secrets.token_urlsafe(32)})
    return True


def sign_out(request: Request) -> None:
    request.session.clear()


def current_teacher(request: Request) -> Teacher:
    """The signed-in teacher (a route dependency); SignInRequired without a live key."""
    key_id, tenant_id = request.session.get("key_id"), request.session.get("tenant_id")
    if not isinstance(key_id, int) or not isinstance(tenant_id, int):
        raise SignInRequired()
    with database.transaction() as session:
        key = session.get(ApiKey, key_id)
        if key is None or key.revoked_at is not None or key.tenant_id != tenant_id:
            request.session.clear()
            raise SignInRequired()
        owner = KeyOwner(key.id, key.tenant_id, key.rate_limit)
        tenant = session.get(Tenant, tenant_id)
        return Teacher(owner, tenant.name if tenant else str(tenant_id),
                       reviewer_name(session, owner))
