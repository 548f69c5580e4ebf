"""Grading a batch: raw jobs in, one model call, one outcome per job out, in order.

A plain function over plain data, so tests call it without a broker. Bad jobs become failed
outcomes with a reason; they never stop the rest of the batch from being graded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hanzi_grader.models.results import Recognition, Verdict
from hanzi_grader.worker.jobs import Job, parse_job, salvage

from hanzi_grader import errors
from hanzi_grader.attempts import DONE, FAILED, attempt_to_dict
from hanzi_grader.errors import HanziError, ModelUnavailable
from hanzi_grader.schema import DEFAULT_TENANT_ID, Attempt
from hanzi_grader.settings import get_settings

if TYPE_CHECKING:
    from hanzi_grader.models.recognizer import Recognizer

logger = logging.getLogger(__name__)

_recognizer: Recognizer | None = None


def load_recognizer() -> Recognizer:
    """This process's recognizer, loaded on first use and kept (one per process)."""
    global _recognizer
    if _recognizer is None:
        from hanzi_grader.models.recognizer import Recognizer

        started = time.monotonic()
        _recognizer = Recognizer.load(get_settings().model_dir)
        logger.info(
            "model %s loaded in %.1f s on %s (trained: %s)",
            _model_version(_recognizer), time.monotonic() - started, tensorflow_device(),
            getattr(_recognizer, "trained", "?"),
        )
    return _recognizer


def tensorflow_device() -> str:
    """``GPU`` when TensorFlow sees one (it then places the model there), else ``CPU``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({', '.join(gpu.name for gpu in gpus)})" if gpus else "CPU"


@dataclass
class Outcome:
    """One job's result: the attempt row to store and, if it failed, the error to report."""

    job_id: str
    row: dict[str, Any]
    error: HanziError | None = None

    @property
    def failed(self) -> bool:
        return self.row["status"] == FAILED

    def result(self) -> dict[str, Any]:
        """The job's result as the producer reads it (the same shape as `hanzi history`)."""
        return attempt_to_dict(Attempt(**self.row))


def grade(
    items: Sequence[tuple[str, Any]],
    *,
    recognizer: Recognizer,
    max_image_bytes: int,
    worker: str | None = None,
) -> list[Outcome]:
    """Grade ``items`` (job id, raw payload) with one ``recognize`` call; one outcome each."""
    started = datetime.now(UTC)
    batch = {"batch_size": len(items), "worker": worker}
    outcomes: list[Outcome | None] = [None] * len(items)
    valid: list[tuple[int, Job]] = []
    for index, (job_id, payload) in enumerate(items):
        try:
            job = parse_job(payload, job_id=job_id, max_image_bytes=max_image_bytes)
            valid.append((index, job))
        except HanziError as error:
            outcomes[index] = _bad_job(job_id, payload, error, started=started, **batch)

    jobs = [job for _, job in valid]
    recognitions, seconds = _recognize(recognizer, jobs)
    version = _model_version(recognizer)
    for (index, job), recognition in zip(valid, recognitions, strict=True):
        outcomes[index] = _graded_job(
            job, recognition, started=started, recognize_ms=seconds * 1000,
            model_version=version, **batch,
        )
    return outcomes  # type: ignore[return-value]  # every slot is filled above


def _recognize(recognizer: Recognizer, jobs: list[Job]) -> tuple[list[Recognition], float]:
    if not jobs:
        return [], 0.0
    started = time.monotonic()
    try:
        recognitions = _recognize_all(recognizer, jobs)
    except ModelUnavailable:
        raise
    except Exception as error:
        # The recognizer reports bad images per image; an exception is unexpected. Grade the
        # jobs one by one so that whatever caused it fails alone.
        logger.exception("batch of %d failed in the model; grading one by one", len(jobs))
        recognitions = [_recognize_one(recognizer, job, error) for job in jobs]
    return recognitions, time.monotonic() - started


def _recognize_all(recognizer: Recognizer, jobs: list[Job]) -> list[Recognition]:
    targets = [job.target for job in jobs]
    return recognizer.recognize(
        [job.image for job in jobs],
        targets=targets if any(targets) else None,
        top_n=max(job.top_n for job in jobs),
    )


def _recognize_one(recognizer: Recognizer, job: Job, batch_error: Exception) -> Recognition:
    try:
        return _recognize_all(recognizer, [job])[0]
    except ModelUnavailable:
        raise
    except Exception as error:
        return Recognition(error=f"the model failed on this image: {error!r}",
                           error_type=type(error).__name__)


def _graded_job(
    job: Job, recognition: Recognition, *, started: datetime, recognize_ms: float,
    model_version: str | None, batch_size: int, worker: str | None,
) -> Outcome:
    row = _job_columns(job) | {
        "model_version": model_version, "batch_size": batch_size, "worker": worker,
        "recognize_ms": round(recognize_ms, 3), "queue_ms": _ms_between(job.submitted_at, started),
        "processed_at": datetime.now(UTC),
    }
    error = _recognition_error(job, recognition)
    if error is not None:
        error_type = recognition.error_type or type(error).__name__
        row |= {"status": FAILED, "error": str(error), "error_type": error_type}
        return Outcome(job.job_id, row, error)
    candidates = recognition.candidates[: job.top_n]
    row |= {
        "status": DONE,
        "predicted": [{"char": c.char, "confidence": float(c.confidence)} for c in candidates],
        "predicted_char": candidates[0].char if candidates else None,
        "confidence": float(candidates[0].confidence) if candidates else None,
        "unknown": bool(recognition.unknown),
        "similarity": None if recognition.similarity is None else float(recognition.similarity),
        "verdict": str(recognition.verdict) if recognition.verdict is not None else None,
        "missing_stroke": (recognition.missing_stroke.to_dict()
                           if recognition.missing_stroke is not None else None),
    }
    return Outcome(job.job_id, row)


def _recognition_error(job: Job, recognition: Recognition) -> HanziError | None:
    if recognition.error is not None:
        return error_from_name(recognition.error_type, f"job {job.job_id}: {recognition.error}")
    if recognition.verdict == Verdict.INVALID_TARGET:
        return errors.InvalidTarget(f"job {job.job_id}: the model has no template for target "
                                    f"{job.target!r}")
    return None


def _bad_job(
    job_id: str, payload: Any, error: HanziError, *, started: datetime, batch_size: int,
    worker: str | None,
) -> Outcome:
    facts = salvage(payload, job_id=job_id)
    row = {
        "job_id": job_id,
        "tenant_id": facts.get("tenant", DEFAULT_TENANT_ID),
        "student_id": facts.get("student"),
        "sheet_id": facts.get("sheet"),
        "target": facts.get("target"),
        "image_sha256": facts.get("image_sha256"),
        "status": FAILED,
        "error": str(error),
        "error_type": type(error).__name__,
        "batch_size": batch_size,
        "worker": worker,
        "created_at": facts.get("submitted_at") or started,
        "queue_ms": _ms_between(facts.get("submitted_at"), started),
        "processed_at": datetime.now(UTC),
    }
    return Outcome(job_id, row, error)


def _job_columns(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "tenant_id": job.tenant,
        "student_id": job.student,
        "sheet_id": job.sheet,
        "cell_row": job.cell[0] if job.cell else None,
        "cell_col": job.cell[1] if job.cell else None,
        "image_sha256": job.image_sha256,
        "image_bytes": len(job.image),
        "target": job.target,
        "top_n": job.top_n,
        "created_at": job.submitted_at or datetime.now(UTC),
    }


def error_from_name(name: str | None, message: str) -> HanziError:
    """An instance of the hanzi_grader error class called ``name`` (HanziError if unknown)."""
    cls = getattr(errors, name or "", None)
    if not (isinstance(cls, type) and issubclass(cls, HanziError)):
        cls = errors.InvalidImage if name is None else HanziError
    return cls(message)


def _ms_between(earlier: datetime | None, later: datetime) -> float | None:
    return None if earlier is None else round((later - earlier).total_seconds() * 1000, 3)


def _model_version(recognizer: Recognizer) -> str | None:
    manifest = getattr(recognizer, "manifest", None)
    version = getattr(manifest, "version", None)
    return None if version is None else str(version)
