"""Databases for the persistence tests: a migrated SQLite file, and an empty Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hanzi_grader import database
from tests.hanzi_grader.databases import throwaway_postgres_database


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    """A migrated SQLite database file."""
    url = f"sqlite:///{tmp_path / 'hanzi.db'}"
    database.upgrade(url)
    yield url
    database.forget_engines()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new, empty Postgres database, dropped afterwards."""
    yield from throwaway_postgres_database()
