"""docker-compose.yml: Docker cannot run here, so check its structure and wiring."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.settings import Settings
from workflows.dev_server import temporal_cli
from workflows.names import SEARCH_ATTRIBUTES
from workflows.search_attributes import type_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_services_of_the_production_shape(compose: dict[str, Any]) -> None:
    assert {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "api",
        "worker",
    } <= set(compose["services"])  # fmt: skip
    assert compose["services"]["temporal"]["image"].startswith("temporalio/server:")
    assert compose["services"]["temporal-ui"]["image"].startswith("temporalio/ui")
    assert compose["services"]["postgresql"]["image"].startswith("postgres")


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
    assert services["temporal-schema"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    schema_done = services["temporal"]["depends_on"]["temporal-schema"]["condition"]
    assert schema_done == "service_completed_successfully"
    for role in ("api", "worker"):
        assert (
            services[role]["depends_on"]["temporal-setup"]["condition"]
            == "service_completed_successfully"
        )
        assert "healthcheck" in services[role]


def test_temporal_reads_the_tuned_dynamic_config(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    path = env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
    source = mounts[f"/etc/temporal/{path}"]  # the image resolves the path from /etc/temporal
    text = (ROOT / source).read_text()
    config = yaml.safe_load(text)
    assert config["history.transferProcessorMaxPollRPS"][0]["value"] > 20  # the default paces
    assert config["matching.enableFairness"][0]["value"] is True
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):  # a key: the reason sits just above it
            assert lines[i - 1].startswith("#"), f"{line} has no reason written above it"
            assert line.rstrip(":") in config
    for key, values in config.items():
        assert [set(v) for v in values] == [{"value"}], key


def test_images_are_the_versions_the_tests_run(compose: dict[str, Any]) -> None:
    """Server and UI images on the lines of the embedded dev server the whole suite runs on."""
    version = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = re.search(r"Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)", version)
    assert found, version
    server, ui = found.groups()
    services = compose["services"]
    assert services["temporal"]["image"] == f"temporalio/server:{server}"
    for setup in ("temporal-schema", "temporal-setup"):
        assert services[setup]["image"] == f"temporalio/admin-tools:{server}"
    assert services["temporal-ui"]["image"] == f"temporalio/ui:{ui}"
    assert f"server {server} and Web UI {ui}" in (ROOT / "docker-compose.yml").read_text()


def test_schema_then_namespace_then_search_attributes(compose: dict[str, Any]) -> None:
    schema = " ".join(compose["services"]["temporal-schema"]["command"])
    assert "temporal-sql-tool" in schema and "update-schema" in schema
    for db in ("temporal", "temporal_visibility"):
        assert db in schema
    script = " ".join(compose["services"]["temporal-setup"]["command"])
    assert "namespace create -n default" in script
    assert "search-attribute create" in script and '--type "$${sa#*:}"' in script
    for key in SEARCH_ATTRIBUTES:  # the one list, each with its type
        assert f"{key.name}:{type_name(key)}" in script


def test_engine_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal_port = 7233
    pg = services["postgresql"]["environment"]
    for role in ("api", "worker", "worker-heavy"):
        e = env(services[role])
        assert e["PIPELINE_ENGINE_TEMPORAL_ADDRESS"] == f"temporal:{temporal_port}"
        url = e["PIPELINE_ENGINE_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgresql:5432/" in url
        assert url.endswith("/" + pg["POSTGRES_DB"])
        assert e["PIPELINE_ENGINE_ENV"] == "prod"
        # secrets only from the environment, and required
        assert re.fullmatch(
            r"\$\{PIPELINE_ENGINE_JWT_SECRET:\?.+\}", e["PIPELINE_ENGINE_JWT_SECRET"]
        )
        assert "${POSTGRES_PASSWORD:?" in url


def test_published_ports_bind_loopback_and_workers_scale(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"
    worker = compose["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale works
    assert worker["deploy"]["replicas"] >= 1


def test_commands_exist() -> None:
    runner = CliRunner()
    for args in (["api", "--help"], ["worker", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "--activities-only" in runner.invoke(app, ["worker", "--help"]).output


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile
    for module in project["tool"]["setuptools"]["py-modules"]:
        assert f"COPY {module}.py" in dockerfile


def test_workers_get_more_than_the_drain_period_to_stop(compose: dict[str, Any]) -> None:
    drain = Settings.model_fields["worker_drain_s"].default
    for role in ("worker", "worker-heavy"):
        grace = compose["services"][role]["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > drain, (role, grace)


def test_api_and_workers_share_one_payload_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    engines = ["api", "worker", "worker-heavy"]
    stores = {env(services[name])["PIPELINE_ENGINE_PAYLOAD_STORE"] for name in engines}
    assert stores == {"${PIPELINE_ENGINE_PAYLOAD_STORE:-/payloads}"}
    for name in engines:
        assert "payloads:/payloads" in services[name]["volumes"], name
    assert "payloads" in compose["volumes"]
