"""Throwaway databases for tests: a new Postgres database per use, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy.exc import OperationalError

from hanzi_grader import database

POSTGRES_ADMIN_URL = os.environ.get(
    "HANZI_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def throwaway_postgres_database() -> Iterator[str]:
    """Create a uniquely named database on the local Postgres, yield its URL, drop it."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(
                database.scratch_database(POSTGRES_ADMIN_URL, prefix="hanzi_test")
            )
        except OperationalError as error:  # no Postgres here: say so rather than fail obscurely
            pytest.skip(f"Postgres not reachable at {POSTGRES_ADMIN_URL}: {error}")
        yield url
