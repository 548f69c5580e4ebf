"""docker-compose.yml matches the code: services, health, order of start, env names, secrets.

Docker cannot run here, so the file is parsed and checked against what the code reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hanzi_grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
SETTINGS_VARIABLES = {f"HANZI_{name.upper()}" for name in Settings.model_fields}
SECRET = re.compile(r"PASSWORD|BASIC_AUTH|SECRET", re.IGNORECASE)


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_it_has_the_services_of_the_design():
    assert set(SERVICES) == {"redis", "postgres", "migrate", "worker", "api", "webhooks",
                             "flower"}


def test_redis_keeps_jobs_on_disk_and_never_evicts_them():
    command = [str(part) for part in SERVICES["redis"]["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])


def test_postgres_keeps_its_data_in_a_volume():
    volume = SERVICES["postgres"]["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]


@pytest.mark.parametrize("service", ["redis", "postgres", "worker", "api"])
def test_services_have_healthchecks(service):
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["retries"] >= 1


def test_workers_start_after_healthy_stores_and_a_finished_migration():
    depends = SERVICES["worker"]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["command"] == ["hanzi", "db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"


def test_the_worker_is_built_here_reserves_a_gpu_and_can_be_scaled():
    worker = SERVICES["worker"]
    assert worker["build"] == "." and (ROOT / "Dockerfile").exists()
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert "gpu" in device["capabilities"] and device["count"] == 1
    # --scale needs no fixed name and no host port
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:2] == ["hanzi", "worker"]
    assert "--no-migrate" in worker["command"]


def test_flower_watches_the_same_broker():
    assert "flower" in SERVICES["flower"]["command"]
    assert environment("flower")["HANZI_BROKER_URL"] == environment("worker")["HANZI_BROKER_URL"]


def test_the_api_serves_on_every_interface_after_the_migration_with_a_health_check():
    api = SERVICES["api"]
    command = api["command"]
    assert command[:2] == ["hanzi", "api"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert any(str(p).endswith(f":{port}") for p in api["ports"])
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "deploy" not in api  # grades nothing: no GPU
    assert environment("api")["HANZI_BROKER_URL"] == environment("worker")["HANZI_BROKER_URL"]
    # Both web processes sign the desk's sessions with the one secret from .env
    assert environment("api")["HANZI_WEB_SECRET"].startswith("${HANZI_WEB_SECRET:?")


def test_webhooks_go_out_from_their_own_worker_with_the_apis_allow_list():
    hooks = SERVICES["webhooks"]
    assert hooks["command"][:2] == ["hanzi", "webhook-worker"]
    assert "deploy" not in hooks  # no model, no GPU
    assert hooks["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert (environment("webhooks")["HANZI_API_CALLBACK_HOSTS"]
            == environment("api")["HANZI_API_CALLBACK_HOSTS"])


@pytest.mark.parametrize("service", ["migrate", "worker", "api", "webhooks", "flower"])
def test_every_hanzi_variable_is_one_the_settings_read(service):
    names = {name for name in environment(service) if name.startswith("HANZI_")}
    assert {"HANZI_BROKER_URL", "HANZI_DATABASE_URL"} <= names
    assert names <= SETTINGS_VARIABLES, names - SETTINGS_VARIABLES


def test_urls_point_at_the_compose_services():
    env = environment("worker")
    assert env["HANZI_BROKER_URL"].startswith("redis://")
    assert "@redis:6379/" in env["HANZI_BROKER_URL"]
    assert env["HANZI_DATABASE_URL"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["HANZI_DATABASE_URL"]


def test_no_secret_is_written_in_the_file():
    for service in SERVICES:
        for name, value in environment(service).items():
            if SECRET.search(name):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), (service, name, value)
    urls = [environment("worker")["HANZI_BROKER_URL"], environment("worker")["HANZI_DATABASE_URL"]]
    for url in urls:
        credentials = url.split("//", 1)[1].split("@", 1)[0]
        assert "PASSWORD:?" in credentials, url


def test_every_variable_the_file_needs_is_in_env_example():
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{(\w+)", text))
    documented = set(re.findall(r"^(\w+)=", ENV_EXAMPLE, re.MULTILINE))
    assert used <= documented, used - documented
    for name in documented:
        if SECRET.search(name):
            assert re.search(rf"^{name}=$", ENV_EXAMPLE, re.MULTILINE), f"{name} has a value"
