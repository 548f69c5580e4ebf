"""The producer's Python API: submit images as grading jobs and collect their results.

For a learning platform's back end::

    from hanzi_grader.producer.client import submit, result
    job_id = submit(png_bytes, student="s-42", target="永")
    outcome = result(job_id, timeout=30)   # {"status": "done", "verdict": "correct", ...}

Jobs go to the broker by task name, so this module never imports TensorFlow or the task code.
A job id chosen by the caller makes submission idempotent: the same id twice is graded once.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hanzi_grader.models.charset import is_known
from hanzi_grader.producer.results import ResultTimeout, result, results
from hanzi_grader.worker.app import GRADE_QUEUE, SHEET_TASK, app
from hanzi_grader.worker.jobs import DEFAULT_TOP_N, ID_MAX_LENGTH, MAX_TOP_N, make_payload
from hanzi_grader.worker.sending import send_jobs

from hanzi_grader.errors import InvalidImage, InvalidJob, InvalidTarget
from hanzi_grader.settings import get_settings

__all__ = ["Job", "ResultTimeout", "check_broker", "check_job", "result", "results",
           "sheet_result", "submit", "submit_jobs", "submit_many", "submit_sheet"]

Image = bytes | str | Path


@dataclass(frozen=True)
class Job:
    """One job of a ``submit_jobs`` call, with its own student, target and top-n."""

    image: Image
    student: str
    target: str | None = None
    top_n: int = DEFAULT_TOP_N
    job_id: str | None = None


def submit(
    image: Image,
    *,
    student: str,
    target: str | None = None,
    job_id: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    sheet: str | None = None,
    cell: tuple[int, int] | None = None,
    tenant: int | None = None,
    keep_result: bool = True,
) -> str:
    """Queue one image (bytes or a file path) for grading; return its job id.

    ``tenant``: the id of the tenant whose job it is (the HTTP API's); None, the default one.
    ``keep_result=False``: no result in the result backend, so ``result()`` cannot wait for
    it; for a caller that reads the attempt from Postgres.
    """
    return submit_many([image], student=student, target=target, top_n=top_n, sheet=sheet,
                       job_ids=[job_id] if job_id else None,
                       cells=[cell] if cell else None, tenant=tenant,
                       keep_results=keep_result)[0]


def submit_many(
    images: Iterable[Image],
    *,
    student: str,
    target: str | None = None,
    job_ids: Iterable[str] | None = None,
    top_n: int = DEFAULT_TOP_N,
    sheet: str | None = None,
    cells: Iterable[tuple[int, int] | None] | None = None,
    targets: Iterable[str | None] | None = None,
    on_submitted: Callable[[str], None] | None = None,
    tenant: int | None = None,
    keep_results: bool = True,
) -> list[str]:
    """Queue many images over one broker connection; return their job ids in order.

    ``job_ids``, ``cells`` and ``targets`` (each image its own target, instead of
    ``target`` for all), when given, pair with the images one to one.
    ``on_submitted`` is called with each job id as it is sent (for a progress bar).
    """
    _check_options(student=student, target=target, top_n=top_n, sheet=sheet)
    images = list(images)
    ids = list(job_ids) if job_ids is not None else [new_job_id() for _ in images]
    cell_list = list(cells) if cells is not None else [None] * len(images)
    target_list = list(targets) if targets is not None else [target] * len(images)
    if not len(ids) == len(cell_list) == len(target_list) == len(images):
        raise InvalidJob(f"{len(images)} images but {len(ids)} job ids, {len(cell_list)} "
                         f"cells and {len(target_list)} targets")
    for job_id in ids:
        _check_id(job_id, "job id")
    for each in set(target_list) - {None}:
        _check_options(student=student, target=each, top_n=top_n, sheet=sheet)
    send_jobs((make_payload(read_image(image), job_id=job_id, student=student, target=each,
                            top_n=top_n, sheet=sheet, cell=cell, tenant=tenant)
               for image, job_id, cell, each in zip(images, ids, cell_list, target_list,
                                                    strict=True)),
              on_sent=on_submitted, keep_results=keep_results)
    return ids


def submit_jobs(jobs: Sequence[Job], *, tenant: int | None = None,
                keep_results: bool = True) -> list[str]:
    """Queue jobs of different students or targets over one broker connection; return their
    job ids in order. Every job is checked before any is sent, so a bad one sends nothing."""
    for job in jobs:
        check_job(student=job.student, target=job.target, top_n=job.top_n, job_id=job.job_id)
    images = [read_image(job.image) for job in jobs]
    ids = [job.job_id or new_job_id() for job in jobs]
    send_jobs((make_payload(image, job_id=job_id, student=job.student, target=job.target,
                            top_n=job.top_n, tenant=tenant)
               for job, image, job_id in zip(jobs, images, ids, strict=True)),
              keep_results=keep_results)
    return ids


def submit_sheet(
    image: Image,
    *,
    student: str,
    layout: Any,
    sheet_id: str | None = None,
    source: str | None = None,
    keep_result: bool = True,
) -> str:
    """Queue a whole sheet scan for grading; return its sheet id.

    ``layout`` is a ``scans.layout.Layout`` or its dict form (``{"expect": "我你好"}``
    and so on). A worker finds the grid and sends the written cells as ordinary jobs. The
    same scan, student and layout always get the same sheet id, so it is graded once.
    ``keep_result=False``: ``sheet_result`` cannot wait for it (the HTTP API reads Postgres).
    """
    from hanzi_grader.scans.layout import Layout, layout_from_dict
    from hanzi_grader.worker.sheet_dispatch import new_sheet_id

    _check_id(student, "student")
    spec = layout if isinstance(layout, Layout) else layout_from_dict(layout)
    data = read_image(image)
    sheet_id = sheet_id or new_sheet_id(data, student=student, layout=spec)
    _check_id(sheet_id, "sheet id")
    job = {"student": student, "image": base64.b64encode(data).decode("ascii"),
           "layout": spec.to_dict(), "source": source or (
               str(image) if isinstance(image, str | Path) else None)}
    app.send_task(SHEET_TASK, kwargs={"job": job}, task_id=sheet_id, queue=GRADE_QUEUE,
                  ignore_result=not keep_result)
    return sheet_id


def sheet_result(sheet_id: str, timeout: float = 300.0) -> dict[str, Any]:
    """Wait for a sheet sent with ``submit_sheet``: the same object as `hanzi grade-sheet
    --json` prints (score, error, and every cell's verdict)."""
    from hanzi_grader.producer.sheets.collect import collect_uploaded

    deadline = _now() + timeout
    accepted = result(sheet_id, timeout=timeout)
    if accepted.get("status") == "failed":
        return {"sheet": sheet_id, "student": None, "score": None,
                "error": f"{accepted.get('error_type')}: {accepted.get('error')}", "cells": [],
                "sheet_id": sheet_id, "practise": []}
    return collect_uploaded(accepted, timeout=max(0.001, deadline - _now())).to_dict()


def read_image(image: Image) -> bytes:
    """The bytes of ``image`` (bytes, or a path), refusing empty or over-large files early."""
    if isinstance(image, bytes | bytearray):
        data, name = bytes(image), "image bytes"
    else:
        path = Path(image)
        try:
            data, name = path.read_bytes(), str(path)
        except OSError as error:
            raise InvalidImage(f"cannot read image {str(path)!r}: {error.strerror}") from None
    limit = get_settings().max_image_bytes
    if not data:
        raise InvalidImage(f"{name} is empty (0 bytes)")
    if len(data) > limit:
        raise InvalidImage(f"{name} is {len(data)} bytes, over the limit of {limit} bytes")
    return data


def check_broker(timeout: float = 3.0) -> None:
    """Raise kombu's ``OperationalError`` at once if the broker does not answer.

    For a caller about to send: a send itself waits out a broker restart (about 30 s of
    retries), and subscribing to results first retries for 20 s more.
    """
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)


def broker_full(error: Exception) -> bool:
    """Whether the broker refused a send for want of memory (Redis at maxmemory, noeviction):
    nothing was queued. kombu wraps the server's OOM reply without a type of its own, so its
    text is all there is."""
    return "maxmemory" in str(error) or "OOM command not allowed" in str(error)


def new_job_id() -> str:
    """A fresh random job id."""
    return uuid.uuid4().hex


def check_job(*, student: str, target: str | None, top_n: int, job_id: str | None) -> None:
    """Raise what ``submit`` would raise for these options, without sending anything."""
    _check_options(student=student, target=target, top_n=top_n, sheet=None)
    if job_id is not None:
        _check_id(job_id, "job id")


def _check_options(*, student: str, target: str | None, top_n: int, sheet: str | None) -> None:
    _check_id(student, "student")
    if sheet is not None:
        _check_id(sheet, "sheet")
    if target is not None and not is_known(target):
        raise InvalidTarget(f"target {target!r} is not one of the 3755 GB2312 level-1 characters")
    if isinstance(top_n, bool) or not isinstance(top_n, int) or not 1 <= top_n <= MAX_TOP_N:
        raise InvalidJob(f"top_n must be an integer 1..{MAX_TOP_N}, got {top_n!r}")


def _check_id(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > ID_MAX_LENGTH:
        raise InvalidJob(f"{name} must be a non-empty string of at most {ID_MAX_LENGTH} "
                         f"characters, got {value!r}")


def _now() -> float:
    return time.monotonic()
