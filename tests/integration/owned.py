"""A Redis and a Postgres that a fault test owns: started in its temporary folder on a free
port, restarted or killed at will, and stopped afterwards, so that no other test or user of
the machine's shared servers ever sees the fault."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class OwnedRedis:
    """A redis-server; with ``append_only``, its append-only file is fsynced on every write."""

    folder: Path
    port: int
    append_only: bool = False
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.folder), "--appendonly", "yes" if self.append_only else "no",
             "--appendfsync", "always", "--save", "",
             "--logfile", str(self.folder / "redis.log")])
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown; SIGKILL: a crash (the fsynced file still has it all)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


def _redis(folder: Path, *, append_only: bool) -> Iterator[OwnedRedis]:
    if shutil.which("redis-server") is None:
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


@dataclass
class OwnedPostgres:
    """A Postgres cluster made by initdb, run as the postgres user (trust authentication)."""

    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres(), str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
             "-l", str(self.folder / "postgres.log"), "-w",
             "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", *args],
            check=True, capture_output=True, timeout=60)

    @staticmethod
    def _as_postgres() -> list[str]:
        # initdb and postgres refuse to run as root; CI runs as root.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def create(self) -> None:
        if self._as_postgres():
            shutil.chown(self.folder, "postgres")
        subprocess.run([*self._as_postgres(), str(self.bin / "initdb"), "-D",
                        str(self.folder / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        self._pg_ctl("start")

    def restart(self) -> None:
        """Stop (fast: open connections are cut, as at a real restart) and start again."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")


@pytest.fixture
def owned_postgres() -> Iterator[OwnedPostgres]:
    if not POSTGRES_BIN or shutil.which("runuser") is None:
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
