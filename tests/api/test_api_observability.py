"""The API's structured access log, its pipeline counters, and its request spans."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline_engine.observability.logs import JsonFormatter, _ContextFilter
from pipeline_engine.observability.tracing import configure_tracing
from tests.api._support import pipeline_config, step, wait_state


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


async def test_metrics_count_created_pipelines_by_tenant(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    body = {"config": pipeline_config("counted", step("t_add")), "tenant_id": tenant}
    assert (await http.post("/v1/pipelines", json=body, headers=admin)).status_code == 201
    assert (await http.post("/v1/pipelines", json=body, headers=admin)).status_code == 200
    text = (await http.get("/metrics")).text
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("pipeline_engine_pipelines_created_total") and f'tenant="{tenant}"' in ln
    )
    assert line.endswith(" 1.0")  # the idempotent repeat is not counted


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
