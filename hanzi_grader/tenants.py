"""Tenants and their API keys: creating a key, and finding the key a request carries.

A key is shown once, when it is made; the database keeps its SHA-256 only. Plain keyword-only
functions over a caller's session, like ``attempts``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanzi_grader.errors import HanziError
from hanzi_grader.schema import ID_LENGTH, ApiKey, Tenant

KEY_PREFIX = "hzk_"  # makes a leaked key recognisable to secret scanners and people
SECRET_PREFIX = "whsec_"
PREFIX_SHOWN = 12  # characters of a key kept in clear, to tell keys apart


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only moment its secret exists outside the client."""

    key: str
    webhook_secret: str  # the HMAC key of this key's webhooks (hanzi_grader.webhooks)
    key_id: int
    tenant_id: int
    tenant: str


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid key speaks for."""

    key_id: int
    tenant_id: int
    rate_limit: int | None


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(*, session: Session, tenant: str, rate_limit: int | None = None) -> NewKey:
    """A new key for ``tenant`` (created when new); ``rate_limit`` requests a minute."""
    name = tenant.strip()
    if not name or len(name) > ID_LENGTH:
        raise HanziError(f"tenant must be a non-empty name of at most {ID_LENGTH} characters, "
                         f"got {tenant!r}")
    if rate_limit is not None and rate_limit < 1:
        raise HanziError(f"rate limit must be at least 1 request a minute, got {rate_limit}")
    owner = session.scalar(select(Tenant).where(Tenant.name == name))
    if owner is None:
        owner = Tenant(name=name)
        session.add(owner)
        session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_hex(24)
    row = ApiKey(tenant_id=owner.id, prefix=key[:PREFIX_SHOWN], key_sha256=key_sha256(key),
                 rate_limit=rate_limit, webhook_secret=secret)
    session.add(row)
    session.flush()
    return NewKey(key=key, webhook_secret=secret, key_id=row.id, tenant_id=owner.id,
                  tenant=owner.name)


def key_owner(*, session: Session, key: str) -> KeyOwner | None:
    """The tenant of ``key``, or None for an unknown or revoked key."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == key_sha256(key),
                                              ApiKey.revoked_at.is_(None)))
    return None if row is None else KeyOwner(row.id, row.tenant_id, row.rate_limit)


def revoke_api_key(*, session: Session, key_id: int) -> bool:
    """Revoke a key (it stops working within the API's key cache time); False if unknown or
    already revoked."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    return True


def api_keys(*, session: Session) -> list[dict[str, object]]:
    """Every key, without its secret: id, tenant, prefix, limit, when made and revoked."""
    rows = session.execute(select(ApiKey, Tenant.name).join(Tenant).order_by(ApiKey.id))
    return [{"key_id": key.id, "tenant": name, "prefix": key.prefix,
             "rate_limit": key.rate_limit, "created_at": _iso(key.created_at),
             "revoked_at": _iso(key.revoked_at)} for key, name in rows]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
