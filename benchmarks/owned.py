"""A Redis and a Postgres of one's own: started in a private folder on a free port, restarted
or killed at will, and stopped afterwards, so that no other user of the machine's shared
servers ever sees the fault. Used by the chaos run (``benchmarks.chaos``) and, through
``tests/integration/owned.py``, by the fault tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
START_TIMEOUT_S = 20


class ServiceDidNotStart(RuntimeError):
    """An owned server did not answer within its start-up allowance."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_installed() -> bool:
    return shutil.which("redis-server") is not None


def postgres_installed() -> bool:
    # runuser: initdb and postgres refuse to run as root, and CI runs as root.
    return bool(POSTGRES_BIN) and (os.geteuid() != 0 or shutil.which("runuser") is not None)


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
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise ServiceDidNotStart(
                        f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown; SIGKILL: a crash (the fsynced file still has it all)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@dataclass
class OwnedPostgres:
    """A Postgres cluster made by initdb, run as the postgres user (trust authentication).

    ``folder`` must be reachable by the postgres user (a ``tempfile.mkdtemp`` is; pytest's
    ``tmp_path`` is not, its parents being closed to other users).
    """

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
