"""Settings: embedded defaults, and batch sizes that suit the device."""

from __future__ import annotations

from hanzi_grader import settings as settings_module
from hanzi_grader.settings import Settings


def test_nothing_configured_means_sqlite_files_under_home(tmp_path, monkeypatch):
    for name in ("HANZI_BROKER_URL", "HANZI_DATABASE_URL", "HANZI_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=tmp_path)
    assert settings.embedded
    assert settings.effective_broker_url == f"sqla+sqlite:///{tmp_path}/broker.db"
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/hanzi.db"
    assert settings.effective_result_backend == f"db+sqlite:///{tmp_path}/results.db"


def test_the_result_backend_defaults_to_the_broker(tmp_path):
    settings = Settings(home=tmp_path, broker_url="redis://r:6379/0")
    assert not settings.embedded
    assert settings.effective_result_backend == "redis://r:6379/0"


def test_batches_are_larger_on_a_gpu_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv("HANZI_FLUSH_EVERY", raising=False)
    monkeypatch.setattr(settings_module, "nvidia_gpu_visible", lambda: True)
    assert Settings(home=tmp_path).flush_every == 64
    monkeypatch.setattr(settings_module, "nvidia_gpu_visible", lambda: False)
    assert Settings(home=tmp_path).flush_every == 16
    monkeypatch.setenv("HANZI_FLUSH_EVERY", "5")
    assert Settings(home=tmp_path).flush_every == 5


def test_a_gpu_hidden_by_cuda_visible_devices_does_not_count(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert settings_module.nvidia_gpu_visible() is False
