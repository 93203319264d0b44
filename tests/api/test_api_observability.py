"""The API's structured access log, its pipeline counters, and its request spans."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from api.observability import ApiMetrics
from pipeline_engine.observability.logs import JsonFormatter, _ContextFilter
from pipeline_engine.observability.tracing import configure_tracing
from tests.api._support import pipeline_config, step, wait_state
from tests.support.promtool import assert_documented, assert_promtool_accepts


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(_ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def access_log() -> _Capture:
    capture = _Capture()
    logger = logging.getLogger("api.access")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    yield capture
    logger.removeHandler(capture)


async def test_access_log_lines_carry_the_pipeline_and_no_secrets(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str, access_log: _Capture
) -> None:
    body = {
        "config": pipeline_config("logged", step("t_add")),
        "tenant_id": tenant,
        "input": {"secret": "s3cr3t"},
    }
    created = await http.post("/v1/pipelines", json=body, headers=admin)
    assert created.status_code == 201, created.text
    pid = created.json()["pipeline_id"]
    assert (await http.get(f"/v1/pipelines/{pid}", headers=admin)).status_code == 200
    lines = [json.loads(line) for line in access_log.lines]
    mine = [line for line in lines if line.get("pipeline_id") == pid]
    assert mine and mine[-1]["route"] == "/v1/pipelines/{pipeline_id}" and mine[-1]["status"] == 200
    token = admin["Authorization"].split()[1]
    assert all(token not in line and "s3cr3t" not in line for line in access_log.lines)


async def test_metrics_count_created_pipelines_without_tenant_ids(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    before = _created((await http.get("/metrics")).text)
    body = {"config": pipeline_config("counted", step("t_add")), "tenant_id": tenant}
    assert (await http.post("/v1/pipelines", json=body, headers=admin)).status_code == 201
    assert (await http.post("/v1/pipelines", json=body, headers=admin)).status_code == 200
    text = (await http.get("/metrics")).text
    assert _created(text) == before + 1  # the idempotent repeat is not counted
    assert tenant not in text  # /metrics needs no token: no tenant ids by default


def _created(page: str) -> float:
    prefix = 'pipeline_engine_pipelines_created_total{route="create_pipeline"} '
    return next(
        (float(line.removeprefix(prefix)) for line in page.splitlines() if line.startswith(prefix)),
        0.0,
    )


def test_tenant_label_only_behind_its_setting() -> None:
    metrics = ApiMetrics(tenant_label=True)
    metrics.pipeline_created(route="process", tenant_id="acme")
    page = generate_latest(metrics.registry).decode()
    assert 'pipeline_engine_pipelines_created_total{route="process",tenant="acme"} 1.0' in page


async def test_metrics_page_follows_prometheus_conventions(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.get("/v1/steps", headers=admin)
    await http.get("/v1/pipelines/pl-nope", headers=admin)
    page = (await http.get("/metrics")).text
    assert 'http_route="/v1/pipelines/{pipeline_id}"' in page and "pl-nope" not in page
    assert "http_server_request_duration_seconds_bucket{" in page
    assert "pipeline_engine_tenant_configs{" in page
    assert_promtool_accepts(page)
    assert_documented(page, prefixes=("pipeline_engine_", "http_server_"))


async def test_request_span_is_the_pipelines_trace(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing(None, service_name="api-test", exporter=exporter)
    body = {"config": pipeline_config("traced", step("t_add")), "tenant_id": tenant}
    created = await http.post("/v1/pipelines", json=body, headers=admin)
    pid = created.json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=admin)
    await wait_state(http, pid, admin, "SUCCEEDED")
    events = (await http.get(f"/v1/pipelines/{pid}/history", headers=admin)).json()
    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /v1/pipelines")
    assert f"{request.context.trace_id:032x}" == events[0]["trace_id"]
