"""Fixtures for a Redis and a Postgres that a fault test owns (benchmarks/owned.py): started
in its temporary folder on a free port, restarted or killed at will, and stopped afterwards,
so that no other test or user of the machine's shared servers ever sees the fault."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.owned import (
    POSTGRES_BIN,
    OwnedPostgres,
    OwnedRedis,
    free_port,
    postgres_installed,
    redis_installed,
)


def _redis(folder: Path, *, append_only: bool) -> Iterator[OwnedRedis]:
    if not redis_installed():
        pytest.skip("redis-server is not installed")
    server = OwnedRedis(folder, free_port(), append_only)
    server.folder.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def owned_redis(tmp_path) -> Iterator[OwnedRedis]:
    """A Redis of this test's own (no other test run can flush it or take its jobs)."""
    yield from _redis(tmp_path / "redis", append_only=False)


@pytest.fixture
def owned_aof_redis(tmp_path) -> Iterator[OwnedRedis]:
    """The same, with its append-only file on, for restarts that must lose nothing."""
    yield from _redis(tmp_path / "aof-redis", append_only=True)


@pytest.fixture
def owned_postgres() -> Iterator[OwnedPostgres]:
    if not postgres_installed():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    # Not under pytest's tmp_path: its parents are closed to the postgres user.
    server = OwnedPostgres(Path(tempfile.mkdtemp(prefix="hanzi-pg-")), free_port(),
                           POSTGRES_BIN[-1])
    try:
        server.create()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
