"""One settings object, read once from the environment (prefix ``HANZI_``).

The worker, the producer, the CLI and ``migrations/env.py`` all read this object, so a
setting means the same thing everywhere. With nothing configured, everything runs on one
machine: a SQLite database file and an embedded SQLite broker under ``HANZI_HOME``.

The embedded broker is kombu's SQLAlchemy transport on a SQLite file (``sqla+sqlite://``),
with Celery's database result backend on another (``db+sqlite://``). It was chosen over
in-process execution because it keeps the real shape: a separate ``celery worker`` process,
celery-batches buffering, acks_late and per-job results all behave as on Redis, so the demo
and the tests exercise the same code as production. Its costs: it polls once a second when
idle, and it cannot broadcast (no task events for Flower, no ``celery inspect``).

Batching defaults depend on the device: 64 jobs on a GPU, where a bigger batch costs little
more than a small one, and 16 on a CPU, where throughput is flat in the batch size (Melnyk-Net
on 2 cores: ~36 images/s at 1, 16 or 64 a batch) and a smaller batch answers sooner (~0.4 s
instead of ~1.8 s). A job that finds a pool process idle is sent at once, alone; while the
model is busy, jobs gather into the next batch, sent the moment the model is free (see
``worker.tasks.RequeueingBatches``), so a lone job never waits for others and
``flush_interval`` is only a safety net. The GPU is detected from the NVIDIA driver's files,
without importing TensorFlow (the worker's parent process must not). The worker holds up to 2 x
``flush_every`` x ``worker_concurrency`` jobs (celery-batches cannot build batches larger than
the prefetch); ``visibility_timeout`` must exceed the longest batch plus that wait.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # in a checkout: the repository


def subpackage_dir(name: str) -> Path:
    """The folder of ``hanzi_grader.<name>``, found without importing it: in a checkout the
    repository's top-level folder (``models/``...), once installed ``hanzi_grader/<name>/``
    (pyproject.toml's package-dir maps one to the other)."""
    spec = importlib.util.find_spec(f"hanzi_grader.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"hanzi_grader.{name} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


SHIPPED_MODEL_DIR = subpackage_dir("models") / "bundle"


GPU_FLUSH_EVERY = 64
CPU_FLUSH_EVERY = 16


def nvidia_gpu_visible() -> bool:
    """True when the NVIDIA driver shows a GPU that CUDA_VISIBLE_DEVICES does not hide."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in {"", "-1"}:
        return False
    return Path("/dev/nvidia0").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


class Settings(BaseSettings):
    """Environment-driven configuration; every field reads ``HANZI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="HANZI_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path.home() / ".local" / "share" / "hanzi-grader")
    cache_dir: Path = Field(default=Path.home() / ".cache" / "hanzi-grader")
    model_dir: Path = SHIPPED_MODEL_DIR

    broker_url: str | None = None  # redis://...; None: the embedded SQLite broker
    result_backend: str | None = None  # None: the broker (Redis), or a SQLite file if embedded
    database_url: str | None = None  # postgresql+psycopg2://...; None: a SQLite file

    # The forward pass (hanzi_grader.models.runtime): auto is OpenVINO on a CPU, TensorFlow on
    # a GPU; bf16 is OpenVINO's bfloat16, about 4x faster on CPUs with AMX or AVX-512 BF16;
    # int8 the bundle's quantized network (`hanzi quantize`), about 2x on any CPU.
    runtime: Literal["auto", "tensorflow", "openvino"] = "auto"
    inference_precision: Literal["f32", "bf16", "int8"] = "f32"

    max_image_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 40_000_000

    # Dynamic batching: a batch is flushed when a pool process is free or at flush_every jobs;
    # flush_interval is the period of celery-batches' timer, kept as a safety net.
    # flush_every unset: 64 when an NVIDIA GPU is visible, else 16 (see above).
    flush_every: int | None = Field(default=None, ge=1)
    flush_interval: float = Field(default=0.1, gt=0)
    worker_concurrency: int = 1  # pool processes per worker, each with its own model: 1 per GPU
    # Seconds before Redis hands an unacknowledged job to another worker (a killed worker's
    # jobs come back after this long).
    visibility_timeout: int = 300
    # Pool process i of a worker serves Prometheus metrics on this port + i; None: it does not.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # The HTTP API (`hanzi api`). A request body over api_max_request_bytes is refused (413)
    # before it is read; unset: room for a base64 image at max_image_bytes plus the fields.
    api_max_request_bytes: int | None = Field(default=None, ge=1024)
    api_rate_limit: int = Field(default=600, ge=1)  # requests a minute per key, unless its own
    # One POST /v1/jobs/batch body (up to 100 jobs, each image still at most max_image_bytes).
    api_max_batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Hosts a job's callback_url may name, comma-separated; none: webhooks are refused. The
    # worker POSTs to them, so only hosts the operator trusts (hanzi_grader.webhooks).
    api_callback_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The teacher's desk (the web pages under /desk): the key that signs its session cookie,
    # the same in every API process (unset: a random one per process, with a warning), and
    # whether the cookie goes over HTTPS only (set it behind TLS).
    web_secret: str | None = None
    web_secure_cookie: bool = False
    # One upload of a stack of scans on the desk (each scan still at most max_image_bytes).
    web_max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    @field_validator("api_callback_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @property
    def effective_api_max_request_bytes(self) -> int:
        return self.api_max_request_bytes or (self.max_image_bytes * 4 // 3 + 64 * 1024)

    @model_validator(mode="after")
    def _default_batch_size(self) -> Settings:
        if self.flush_every is None:
            self.flush_every = GPU_FLUSH_EVERY if nvidia_gpu_visible() else CPU_FLUSH_EVERY
        return self

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: run on the embedded SQLite broker."""
        return self.broker_url is None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'hanzi.db'}"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.home / 'broker.db'}"

    @property
    def effective_result_backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.broker_url:
            return self.broker_url
        return f"db+sqlite:///{self.home / 'results.db'}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings


def redact_url(url: str) -> str:
    """``url`` fit to print: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not every broker URL is an SQLAlchemy URL; never print a password
        return url.split("@")[-1] if "@" in url else url
