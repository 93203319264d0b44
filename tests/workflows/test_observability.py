"""Worker metrics on Prometheus, and tracing whose trace id is the events' trace_id."""

from __future__ import annotations

import uuid

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline_engine.observability.metric_labels import pipeline_labels, set_tenant_label
from pipeline_engine.observability.tracing import configure_tracing
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.promtool import assert_documented, assert_promtool_accepts
from tests.support.waiting import wait_for_state, wait_until
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker, connect

CONFIG = {
    "name": "observed",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_add"},
            {
                "type": "step",
                "name": "t_flaky",
                "kwargs": {"fail_times": 1},
                "retry": {"initial_interval_s": 0.05},
            },
        ],
    },
}


async def test_worker_metrics_endpoint(
    temporal_server: TemporalDevServer, registry: StepRegistry
) -> None:
    port = free_port()
    client = await connect(temporal_server.address, metrics_port=port)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=queue, registry=registry):
        engine = TemporalPipelineEngine(client, task_queue=queue, registry=registry)
        created = await engine.create_pipeline(CONFIG, tenant_id="metrics-tenant", start=True)
        assert (await wait_for_state(engine, created.pipeline_id)).state is PipelineState.SUCCEEDED
        text = ""

        async def scraped() -> bool:
            nonlocal text
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            return "pipeline_engine_stage_duration_seconds" in text and "SUCCEEDED" in text

        await wait_until(scraped, timeout=20, interval=0.5)
    assert 'step="t_flaky"' in text
    assert "pipeline_engine_stage_failures_total{" in text and 'error="ValueError"' in text
    assert "pipeline_engine_stage_attempts_total{" in text
    assert "pipeline_engine_stage_queue_seconds_bucket{" in text
    assert "pipeline_engine_pipeline_transitions_total{" in text
    assert "metrics-tenant" not in text  # the page needs no token: no tenant ids by default
    # buckets that fit steps (milliseconds to an hour, in seconds), and the SDK's in seconds
    assert "pipeline_engine_stage_duration_seconds_bucket{" in text and 'le="3600"' in text
    assert "temporal_activity_execution_latency_seconds_bucket{" in text
    assert "_milliseconds" not in text and "_ms_" not in text
    assert_promtool_accepts(text)
    assert_documented(text, prefixes=("pipeline_engine_",))


def test_tenant_label_only_when_asked() -> None:
    assert pipeline_labels("acme", state="RUNNING") == {"state": "RUNNING"}
    set_tenant_label(True)
    try:
        assert pipeline_labels("acme", state="RUNNING") == {"state": "RUNNING", "tenant": "acme"}
    finally:
        set_tenant_label(False)


async def test_tracing_trace_id_matches_events(
    temporal_server: TemporalDevServer, registry: StepRegistry
) -> None:
    exporter = InMemorySpanExporter()
    assert configure_tracing(None, service_name="test", exporter=exporter)
    client = await connect(temporal_server.address)
    queue = f"trace-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=queue, registry=registry):
        engine = TemporalPipelineEngine(client, task_queue=queue, registry=registry)
        created = await engine.create_pipeline(CONFIG, start=True)
        assert (await wait_for_state(engine, created.pipeline_id)).state is PipelineState.SUCCEEDED
        events = await engine.get_history(created.pipeline_id)
    trace_ids = {f"{s.context.trace_id:032x}" for s in exporter.get_finished_spans()}
    names = {
        s.name
        for s in exporter.get_finished_spans()
        if f"{s.context.trace_id:032x}" == events[0].trace_id
    }
    assert events[0].trace_id in trace_ids
    assert "CreatePipeline" in names
    assert any(n.startswith("RunActivity:t_add") for n in names), names
