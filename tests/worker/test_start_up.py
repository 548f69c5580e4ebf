"""A pool process's start-up: the model is loaded once, and a bundle that cannot load says why."""

from __future__ import annotations

import logging

from hanzi_grader.worker import app, grading

from hanzi_grader.settings import get_settings


def test_a_bundle_that_cannot_load_is_logged_by_its_reason_without_a_traceback(
    monkeypatch, tmp_path, caplog
):
    monkeypatch.setenv("HANZI_MODEL_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(grading, "_recognizer", None)
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            app._prepare_pool_process()
    finally:
        get_settings.cache_clear()
    [record] = [r for r in caplog.records if "could not load the model" in r.getMessage()]
    assert "nowhere is not a directory" in record.getMessage()
    assert record.exc_info is None  # a setting to fix: the reason, not a stack
    assert grading._recognizer is None  # the first batch tries again
