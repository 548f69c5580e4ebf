"""`hanzi db upgrade / current / downgrade` on the configured database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from hanzi_grader import database
from hanzi_grader.cli import cli
from hanzi_grader.settings import Settings


@pytest.fixture
def configured_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'hanzi.db'}"
    monkeypatch.setattr(database, "get_settings", lambda: Settings(home=tmp_path,
                                                                   database_url=url))
    return url


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_current_and_downgrade(configured_url):
    runner = CliRunner()

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert {"students", "sheets", "attempts"} <= tables(configured_url)

    downgraded = runner.invoke(cli, ["db", "downgrade", "base"])
    assert downgraded.exit_code == 0, downgraded.output
    assert tables(configured_url) == {"alembic_version"}


def test_an_unknown_revision_is_one_line_on_stderr(configured_url):
    result = CliRunner().invoke(cli, ["db", "upgrade", "nonsense"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Can't locate revision identified by 'nonsense'"


def test_an_unreachable_database_is_named_without_its_password(monkeypatch, tmp_path):
    url = "postgresql+psycopg2://hanzi:secret@127.0.0.1:1/hanzi"
    monkeypatch.setattr(database, "get_settings", lambda: Settings(home=tmp_path,
                                                                   database_url=url))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "cannot migrate postgresql+psycopg2://hanzi:***@127.0.0.1:1/hanzi" in result.output
    assert "secret" not in result.output
