"""Route dependencies: the tenant a request's API key speaks for, within its rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from hanzi_grader.api.problems import Problem
from starlette.concurrency import run_in_threadpool

from hanzi_grader import database, tenants
from hanzi_grader.tenants import KeyOwner

# auto_error=False: a missing key is answered by us, as a problem document with 401.
bearer = HTTPBearer(auto_error=False, description="An API key from `hanzi api-key create`.")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _lookup(key: str) -> KeyOwner | None:
    with database.transaction() as session:
        return tenants.key_owner(session=session, key=key)


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyOwner:
    """The key's owner; 401 without a valid key, 429 with Retry-After over its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "missing API key: send `Authorization: Bearer <key>`",
                      headers=CHALLENGE)
    owner = await run_in_threadpool(_lookup, credentials.credentials)
    if owner is None:
        raise Problem(401, "unknown or revoked API key", headers=CHALLENGE)
    limit = owner.rate_limit or request.app.state.settings.api_rate_limit
    wait = await run_in_threadpool(request.app.state.rate_limiter.hit, owner.key_id, limit)
    if wait is not None:
        raise Problem(429, f"rate limit of {limit} requests a minute reached; retry in "
                           f"{wait} s", headers={"Retry-After": str(wait)})
    return owner


Owner = Annotated[KeyOwner, Depends(current_key)]
