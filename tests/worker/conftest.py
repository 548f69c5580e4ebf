"""Fixtures for the worker tests: a stand-in recognizer, and a task wired to SQLite."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from celery.backends.cache import CacheBackend
from hanzi_grader.models.results import Candidate, Recognition, Verdict
from PIL import Image

from hanzi_grader import database
from hanzi_grader.settings import Settings


class StubRecognizer:
    """The Recognizer's batch API with canned answers, recording each call.

    Bytes that PIL cannot open come back as InvalidImage, as from the real one; the answer
    is always 永 first, so a job with target 永 is correct and any other target is wrong.
    """

    class manifest:  # mirrors Recognizer.manifest.version
        version = "stub-1"

    trained = False

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.calls: list[dict] = []
        self.fail_on = fail_on

    def recognize(self, images, targets=None, top_n=5):
        self.calls.append({"images": list(images), "targets": targets, "top_n": top_n})
        if self.fail_on is not None and self.fail_on in images:
            raise RuntimeError("the model choked")
        return [self._one(image, targets[i] if targets else None, top_n)
                for i, image in enumerate(images)]

    @staticmethod
    def _one(image: bytes, target: str | None, top_n: int) -> Recognition:
        try:
            Image.open(io.BytesIO(image)).load()
        except Exception as error:
            return Recognition(error=f"not an image ({error})", error_type="InvalidImage")
        candidates = [Candidate(c, p) for c, p in (("永", 0.7), ("水", 0.2), ("木", 0.1))]
        verdict = None if target is None else (
            Verdict.CORRECT if target == "永" else Verdict.WRONG_CHARACTER)
        return Recognition(candidates=candidates[:top_n], target=target, verdict=verdict,
                           similarity=None if target is None else 0.5)


@pytest.fixture
def stub_recognizer() -> StubRecognizer:
    return StubRecognizer()


@pytest.fixture
def wired_tasks(tmp_path, monkeypatch, stub_recognizer) -> Iterator[dict]:
    """worker.tasks on a migrated SQLite file, an in-memory result backend and the stub."""
    from hanzi_grader.worker import app as app_module
    from hanzi_grader.worker import grading, tasks

    url = f"sqlite:///{tmp_path / 'hanzi.db'}"
    database.upgrade(url)
    settings = Settings(home=tmp_path, database_url=url, max_image_bytes=100_000)
    backend = CacheBackend(app=app_module.app, url="memory://")
    backend.client.cache.clear()  # the memory cache is process-wide
    monkeypatch.setattr(database, "get_settings", lambda: settings)
    monkeypatch.setattr(tasks, "_settings", settings)
    monkeypatch.setattr(grading, "load_recognizer", lambda: stub_recognizer)
    monkeypatch.setattr(type(app_module.app), "backend", property(lambda _self: backend))
    database.forget_engines()
    yield {"url": url, "backend": backend, "recognizer": stub_recognizer}
    database.forget_engines()
