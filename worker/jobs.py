"""The job message: what a producer sends and what the worker accepts.

A job is a JSON object (pickle is refused by the Celery app)::

    {"job_id": "...", "student": "s1", "image": "<base64 PNG/JPEG bytes>",
     "target": "永" or null, "top_n": 5, "sheet": "sheet-7" or null, "cell": [row, col] or null,
     "submitted_at": "2026-01-01T09:00:00+00:00", "tenant": 2}

``tenant`` (the id of the tenant whose job it is) is sent by the HTTP API only; a job without
one is the default tenant's.

``make_payload`` builds one; ``parse_job`` validates one and raises a hanzi_grader error that
says what was wrong. This module never imports TensorFlow: the producer uses it too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hanzi_grader.models.charset import is_known

from hanzi_grader.errors import InvalidImage, InvalidJob, InvalidTarget
from hanzi_grader.schema import DEFAULT_TENANT_ID

ID_MAX_LENGTH = 64  # the width of the id columns in hanzi_grader.schema
MAX_TOP_N = 100
DEFAULT_TOP_N = 5
FIELDS = {"job_id", "student", "image", "target", "top_n", "sheet", "cell", "submitted_at",
          "tenant"}


@dataclass(frozen=True)
class Job:
    """A validated job, ready for the models."""

    job_id: str
    student: str
    image: bytes
    target: str | None = None
    top_n: int = DEFAULT_TOP_N
    sheet: str | None = None
    cell: tuple[int, int] | None = None
    submitted_at: datetime | None = None
    tenant: int = DEFAULT_TENANT_ID

    @property
    def image_sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


def make_payload(
    image: bytes,
    *,
    job_id: str,
    student: str,
    target: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    sheet: str | None = None,
    cell: tuple[int, int] | None = None,
    submitted_at: datetime | None = None,
    tenant: int | None = None,
) -> dict[str, Any]:
    """The JSON message for one job."""
    payload = {
        "job_id": job_id,
        "student": student,
        "image": base64.b64encode(image).decode("ascii"),
        "target": target,
        "top_n": top_n,
        "sheet": sheet,
        "cell": list(cell) if cell is not None else None,
        "submitted_at": (submitted_at or datetime.now(UTC)).isoformat(),
    }
    if tenant is not None:
        payload["tenant"] = tenant
    return payload


def parse_job(payload: Any, *, job_id: str, max_image_bytes: int) -> Job:
    """Validate a job message; ``job_id`` is the Celery task id it arrived under.

    Raises InvalidJob (malformed payload), InvalidImage (image missing, not base64, empty or
    over ``max_image_bytes``) or InvalidTarget (not a GB2312 level-1 character). Whether the
    bytes decode to an image with ink is the recognizer's to say.
    """
    if not isinstance(payload, dict):
        raise InvalidJob(f"job {job_id}: payload must be a JSON object, got {_kind(payload)}")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise InvalidJob(f"job {job_id}: unknown field(s) {', '.join(unknown)}")
    claimed = payload.get("job_id", job_id)
    if claimed != job_id:
        raise InvalidJob(f"job {job_id}: payload job_id {claimed!r} differs from the task id")
    return Job(
        job_id=_identifier(job_id, "job_id", job_id),
        student=_identifier(payload.get("student"), "student", job_id),
        image=decode_image(payload.get("image"), job_id=job_id, max_bytes=max_image_bytes),
        target=_target(payload.get("target"), job_id),
        top_n=_top_n(payload.get("top_n", DEFAULT_TOP_N), job_id),
        sheet=_optional_identifier(payload.get("sheet"), "sheet", job_id),
        cell=_cell(payload.get("cell"), job_id),
        submitted_at=_moment(payload.get("submitted_at"), job_id),
        tenant=_tenant(payload.get("tenant"), job_id),
    )


def decode_image(encoded: Any, *, job_id: str, max_bytes: int) -> bytes:
    """The image bytes of a job, refusing anything over ``max_bytes`` before decoding it."""
    if not isinstance(encoded, str):
        raise InvalidImage(f"job {job_id}: image must be a base64 string, got {_kind(encoded)}")
    if len(encoded) > 4 * math.ceil(max_bytes / 3):
        raise InvalidImage(
            f"job {job_id}: image is about {len(encoded) * 3 // 4} bytes, over the limit of "
            f"{max_bytes} bytes"
        )
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidImage(f"job {job_id}: image is not valid base64 ({error})") from None
    if not image:
        raise InvalidImage(f"job {job_id}: image is empty (0 bytes)")
    if len(image) > max_bytes:
        raise InvalidImage(
            f"job {job_id}: image is {len(image)} bytes, over the limit of {max_bytes} bytes"
        )
    return image


def salvage(payload: Any, *, job_id: str) -> dict[str, Any]:
    """What can still be read from a bad job, so that its failed attempt says whose it was."""
    if not isinstance(payload, dict):
        return {"job_id": job_id}
    facts: dict[str, Any] = {"job_id": job_id}
    for key in ("student", "sheet", "target"):
        value = payload.get(key)
        if isinstance(value, str) and 0 < len(value) <= ID_MAX_LENGTH and (
            key != "target" or len(value) == 1
        ):
            facts[key] = value
    with contextlib.suppress(binascii.Error, ValueError, TypeError):
        # The digest of an over-large image is still worth keeping: it names the file.
        facts["image_sha256"] = hashlib.sha256(
            base64.b64decode(payload.get("image"), validate=True)
        ).hexdigest()
    with contextlib.suppress(InvalidJob):
        facts["tenant"] = _tenant(payload.get("tenant"), job_id)
    with contextlib.suppress(InvalidJob):
        facts["submitted_at"] = _moment(payload.get("submitted_at"), job_id)
    return facts


def _identifier(value: Any, name: str, job_id: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidJob(f"job {job_id}: {name} must be a non-empty string, got {value!r}")
    if len(value) > ID_MAX_LENGTH:
        raise InvalidJob(
            f"job {job_id}: {name} is {len(value)} characters long, over {ID_MAX_LENGTH}"
        )
    return value


def _optional_identifier(value: Any, name: str, job_id: str) -> str | None:
    return None if value is None else _identifier(value, name, job_id)


def _target(value: Any, job_id: str) -> str | None:
    if value is None:
        return None
    if not is_known(value):
        raise InvalidTarget(
            f"job {job_id}: target {value!r} is not one of the 3755 GB2312 level-1 characters"
        )
    return value


def _top_n(value: Any, job_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_N:
        raise InvalidJob(f"job {job_id}: top_n must be an integer 1..{MAX_TOP_N}, got {value!r}")
    return value


def _tenant(value: Any, job_id: str) -> int:
    if value is None:
        return DEFAULT_TENANT_ID
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidJob(f"job {job_id}: tenant must be a tenant id (an integer >= 1), "
                         f"got {value!r}")
    return value


def _cell(value: Any, job_id: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise InvalidJob(f"job {job_id}: cell must be [row, column] of two integers >= 0, "
                         f"got {value!r}")
    return (value[0], value[1])


def _moment(value: Any, job_id: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidJob(
            f"job {job_id}: submitted_at must be an ISO 8601 time, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
