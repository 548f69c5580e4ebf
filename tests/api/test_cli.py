"""`hanzi api-key create` prints the key last and keeps only its hash; `hanzi api` is listed."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from hanzi_grader import database, tenants
from hanzi_grader.cli import cli
from hanzi_grader.settings import get_settings


def test_api_key_create_prints_the_key_last_and_stores_only_its_hash(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hanzi.db'}"
    monkeypatch.setenv("HANZI_HOME", str(tmp_path))
    monkeypatch.setenv("HANZI_DATABASE_URL", url)
    get_settings.cache_clear()
    database.upgrade()
    try:
        runner = CliRunner()
        made = runner.invoke(cli, ["api-key", "create", "--tenant", "acme"])
        again = runner.invoke(cli, ["api-key", "create", "--tenant", "acme", "--json",
                                    "--rate-limit", "5"])
        assert made.exit_code == 0 and again.exit_code == 0, made.output + again.output
        key = made.stdout.splitlines()[-1]
        second = json.loads(again.stdout)

        assert key.startswith("hzk_") and len(key) > 40
        assert second["tenant"] == "acme" and second["key"] != key
        with database.transaction() as session:
            owner = tenants.key_owner(session=session, key=key)
            assert owner is not None and owner.tenant_id == second["tenant_id"]
        engine = create_engine(url)
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT prefix, key_sha256, rate_limit "
                                             "FROM api_keys ORDER BY id")).all()
        engine.dispose()
        assert [row.rate_limit for row in stored] == [None, 5]
        assert stored[0].key_sha256 == tenants.key_sha256(key)
        assert key not in str(stored) and stored[0].prefix == key[:12]

        # And a key is listed without its secret, and revoked by its id
        listed = [json.loads(line) for line in
                  runner.invoke(cli, ["api-key", "list"]).stdout.splitlines()]
        assert [k["tenant"] for k in listed] == ["acme", "acme"]
        assert key not in json.dumps(listed)
        first_id = listed[0]["key_id"]
        assert runner.invoke(cli, ["api-key", "revoke", str(first_id)]).exit_code == 0
        assert runner.invoke(cli, ["api-key", "revoke", str(first_id)]).exit_code == 1
        with database.transaction() as session:
            assert tenants.key_owner(session=session, key=key) is None
    finally:
        database.forget_engines()
        get_settings.cache_clear()


def test_the_api_commands_are_listed_without_importing_them():
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert "api-key" in listed and "Serve the HTTP API" in listed
    served = CliRunner().invoke(cli, ["api", "--help"]).output
    assert "--host" in served and "--port" in served
