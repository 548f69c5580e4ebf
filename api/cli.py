"""``hanzi api`` (serve the HTTP API) and ``hanzi api-key create`` (a key for a tenant)."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from hanzi_grader import database, tenants
from hanzi_grader.console import echo_json, echo_json_lines
from hanzi_grader.errors import HanziError
from hanzi_grader.settings import get_settings, redact_url


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Web processes (the rate limit is shared through Redis).")
@click.option("--log-level", default="info", show_default=True)
def api(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, interactive docs at /docs).

    Jobs go to the same queue as `hanzi submit`; start workers with `hanzi worker`. The
    embedded database is migrated first; a configured one by `hanzi db upgrade`.
    """
    import uvicorn

    database.upgrade_embedded()
    settings = get_settings()
    click.echo(f"hanzi api on http://{host}:{port} (broker "
               f"{redact_url(settings.effective_broker_url)}, database "
               f"{redact_url(settings.effective_database_url)})", err=True)
    # A factory, so that each of several web processes builds its own app and connections.
    uvicorn.run("hanzi_grader.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, proxy_headers=True)


@click.group("api-key")
def api_key() -> None:
    """API keys for the HTTP API, one tenant each."""


@api_key.command("create")
@click.option("--tenant", required=True, help="The tenant's name (created when new).")
@click.option("--rate-limit", type=click.IntRange(1), default=None,
              help="Requests a minute for this key [default: HANZI_API_RATE_LIMIT].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_key(tenant: str, rate_limit: int | None, as_json: bool) -> None:
    """Make a key for TENANT and print it, once: only its hash is kept.

    The key is the last line of the output. `--tenant default` speaks for the jobs sent with
    `hanzi submit` and `producer.client`.
    """
    database.upgrade_embedded()
    try:
        with database.transaction() as session:
            made = tenants.create_api_key(session=session, tenant=tenant,
                                          rate_limit=rate_limit)
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:  # no database, or one not migrated to head yet
        raise click.ClickException(
            f"cannot store the key in {redact_url(database.database_url())}: "
            f"{type(error).__name__}: {str(error).splitlines()[0]} (run `hanzi db upgrade`?)"
        ) from None
    if as_json:
        echo_json({"tenant": made.tenant, "tenant_id": made.tenant_id, "key_id": made.key_id,
                   "webhook_secret": made.webhook_secret, "key": made.key})
        return
    click.echo(f"API key {made.key_id} for tenant {made.tenant} (id {made.tenant_id}); "
               f"shown this once, store both now.", err=True)
    click.echo(f"webhook signing secret: {made.webhook_secret}")
    click.echo(made.key)


@api_key.command("revoke")
@click.argument("key_id", type=int)
def revoke_key(key_id: int) -> None:
    """Revoke the key KEY_ID (see `hanzi api-key list`); API processes stop accepting it
    within 30 s (they remember keys that long)."""
    with database.transaction() as session:
        revoked = tenants.revoke_api_key(session=session, key_id=key_id)
    if not revoked:
        raise click.ClickException(f"no active API key {key_id}")
    click.echo(f"API key {key_id} revoked")


@api_key.command("list")
def list_keys() -> None:
    """Every key as JSON Lines: id, tenant, prefix, rate limit, created, revoked (never the
    key itself, which is not kept)."""
    database.upgrade_embedded()
    with database.transaction() as session:
        echo_json_lines(tenants.api_keys(session=session))
