"""Task-queue backlog on the API's ``/metrics`` (real Temporal server, a queue no worker polls)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from temporalio.client import Client

from api.app import create_app
from api.queue_metrics import QueueMetrics
from tests.api._support import ApiServer, make_settings, start_uvicorn
from tests.support.promtool import assert_documented, assert_promtool_accepts
from workflows.dev_server import TemporalDevServer, free_port


@pytest.fixture
async def lonely_api(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> AsyncIterator[ApiServer]:
    """An API whose task queue no worker polls, also reporting a second such queue."""
    extra = f"heavy-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        temporal_server, f"sqlite:///{tmp_path / 'tenants.db'}", metrics_task_queues=extra
    )
    app = create_app(settings)
    port = free_port()
    server, task = await start_uvicorn(app, port)
    app.state.ctx.metrics.queues.min_interval_s = 0.0  # read Temporal at every scrape here
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", settings, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def gauge(page: str, name: str, queue: str, task_type: str) -> float | None:
    found = re.search(
        rf'^{name}{{task_queue="{re.escape(queue)}",task_type="{task_type}"}} (\S+)$',
        page,
        flags=re.MULTILINE,
    )
    return float(found.group(1)) if found else None


async def test_backlog_gauges_move_when_a_queue_has_no_worker(
    lonely_api: ApiServer, client: Client
) -> None:
    queue = lonely_api.settings.task_queue
    extra = lonely_api.settings.metrics_task_queues
    async with httpx.AsyncClient(base_url=lonely_api.base_url, timeout=30) as http:
        page = (await http.get("/metrics")).text
        assert "pipeline_engine_temporal_up 1.0" in page
        for name in (
            "pipeline_engine_task_queue_backlog",
            "pipeline_engine_task_queue_backlog_age_seconds",
        ):
            for task_type in ("workflow", "activity"):
                assert gauge(page, name, queue, task_type) == 0.0, (name, task_type, page)
                assert gauge(page, name, extra, task_type) == 0.0, (name, task_type)
        handles = [
            await client.start_workflow(
                "PipelineWorkflow", id=f"backlog-{uuid.uuid4().hex}", task_queue=queue
            )
            for _ in range(3)
        ]
        try:
            counts: list[float | None] = []
            ages: list[float | None] = []
            for _ in range(100):  # Temporal's figures are approximate and a little late
                await asyncio.sleep(0.3)
                page = (await http.get("/metrics")).text
                counts.append(gauge(page, "pipeline_engine_task_queue_backlog", queue, "workflow"))
                ages.append(
                    gauge(page, "pipeline_engine_task_queue_backlog_age_seconds", queue, "workflow")
                )
                if counts[-1] == 3 and (ages[-1] or 0) >= 1.0:
                    break
            assert counts[-1] == 3, counts
            assert ages[-1] is not None and ages[-1] >= 1.0, ages
            assert gauge(page, "pipeline_engine_task_queue_backlog", extra, "workflow") == 0.0
            assert_promtool_accepts(page)
            assert_documented(page, prefixes=("pipeline_engine_",))
        finally:
            for handle in handles:
                await handle.terminate("test over")


async def test_temporal_unreachable_is_temporal_up_0_and_no_backlog() -> None:
    registry = CollectorRegistry()
    queues = QueueMetrics(registry, ["pipelines"], timeout_s=0.5)
    nobody = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    await queues.refresh(nobody)
    page = generate_latest(registry).decode()
    assert "pipeline_engine_temporal_up 0.0" in page
    assert "pipeline_engine_task_queue_backlog{" not in page
