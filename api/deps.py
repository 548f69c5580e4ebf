"""Route dependencies: the tenant a request's API key speaks for, within its rate limit."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from hanzi_grader.api.problems import Problem
from hanzi_grader.api.rate_limit import RateLimiter
from starlette.concurrency import run_in_threadpool

from hanzi_grader import database, tenants
from hanzi_grader.tenants import KeyOwner

# auto_error=False: a missing key is answered by us, as a problem document with 401.
bearer = HTTPBearer(auto_error=False, description="An API key from `hanzi api-key create`.")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


KEY_CACHE_S = 30.0  # a revoked key stops working within this long
_known_keys: dict[str, tuple[float, KeyOwner]] = {}


def _lookup(key: str) -> KeyOwner | None:
    """The key's owner, remembered for KEY_CACHE_S, which saves a database transaction per
    request. Unknown keys are never remembered."""
    digest = tenants.key_sha256(key)
    known = _known_keys.get(digest)
    if known is not None and time.monotonic() - known[0] < KEY_CACHE_S:
        return known[1]
    with database.transaction() as session:
        owner = tenants.key_owner(session=session, key=key)
    if owner is not None:
        if len(_known_keys) > 10_000:  # bounded: a flood of keys cannot grow it for ever
            _known_keys.clear()
        _known_keys[digest] = (time.monotonic(), owner)
    return owner


def _authorise(key: str, default_limit: int, limiter: RateLimiter
               ) -> tuple[KeyOwner | None, int, int | None]:
    # One trip to the thread pool for both the key and its rate limit.
    owner = _lookup(key)
    if owner is None:
        return None, default_limit, None
    limit = owner.rate_limit or default_limit
    return owner, limit, limiter.hit(owner.key_id, limit)


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyOwner:
    """The key's owner; 401 without a valid key, 429 with Retry-After over its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "missing API key: send `Authorization: Bearer <key>`",
                      headers=CHALLENGE)
    owner, limit, wait = await run_in_threadpool(
        _authorise, credentials.credentials, request.app.state.settings.api_rate_limit,
        request.app.state.rate_limiter)
    if owner is None:
        raise Problem(401, "unknown or revoked API key", headers=CHALLENGE)
    if wait is not None:
        raise _limited(limit, wait)
    return owner


async def charge(request: Request, owner: KeyOwner, extra: int) -> None:
    """Count ``extra`` more requests against the key's limit (a batch counts each job its
    request carries); 429 if that passes the limit."""
    limit = owner.rate_limit or request.app.state.settings.api_rate_limit
    if extra + 1 > limit:  # no wait would let it through
        raise Problem(422, f"a batch of {extra + 1} jobs is over this key's rate limit of "
                           f"{limit} requests a minute; send at most {limit} at once")
    if extra > 0:
        wait = await run_in_threadpool(request.app.state.rate_limiter.hit, owner.key_id, limit,
                                       extra)
        if wait is not None:
            raise _limited(limit, wait, f"a batch of {extra + 1} jobs counts {extra + 1}; ")


def _limited(limit: int, wait: int, why: str = "") -> Problem:
    return Problem(429, f"{why}rate limit of {limit} requests a minute reached; retry in "
                        f"{wait} s", headers={"Retry-After": str(wait)})


Owner = Annotated[KeyOwner, Depends(current_key)]
