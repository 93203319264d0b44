"""Batches on the real Temporal server: max_running, counts, retry-failed, cancel, results."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from pipeline_engine.batches import BatchStatus
from pipeline_engine.errors import BatchNotFound, Conflict
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.batches import BatchRequest
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.steps import calls_of
from workflows import names
from workflows.batch_engine import TemporalBatchEngine
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import store_of


def _config(seconds: float = 0.0) -> dict[str, Any]:
    step = {"type": "step", "name": "t_batch_item", "kwargs": {"seconds": seconds},
            "retry": {"max_attempts": 1}}  # fmt: skip
    return {"schema_version": "1", "name": "batch-item", "definition": step}


def _request(
    registry: StepRegistry,
    *,
    tenant: str,
    max_running: int,
    seconds: float = 0.0,
    key: str | None = None,
) -> BatchRequest:
    return BatchRequest(
        tenant_id=tenant,
        pipeline="default",
        config=PreparedConfig.of(_config(seconds), registry=registry),
        max_running=max_running,
        idempotency_key=key,
    )


@pytest.fixture
def batches(engine: TemporalPipelineEngine, client: Client) -> TemporalBatchEngine:
    return TemporalBatchEngine(engine, store_of(client.data_converter))


async def _until(batches: TemporalBatchEngine, batch_id: str, *states: str) -> BatchStatus:
    deadline = time.monotonic() + 90
    while True:
        status = await batches.get_batch(batch_id)
        if status.state in states or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.3)


def _max_overlap(spans_file: Path) -> int:
    events: list[tuple[float, int]] = []
    for line in spans_file.read_text().splitlines():
        _, start, end = line.split()
        events += [(float(start), 1), (float(end), -1)]
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    return peak


async def test_a_batch_runs_within_max_running_and_retry_failed_redrives_the_failed(
    batches: TemporalBatchEngine, registry: StepRegistry, calls_dir: Path
) -> None:
    fix = f"fix-{uuid.uuid4().hex[:8]}"
    tenant = f"tn-{uuid.uuid4().hex[:8]}"
    failing = {3, 11, 17}
    inputs = [{"n": i, "fail": i in failing, "fix": fix} for i in range(24)]
    request = _request(registry, tenant=tenant, max_running=4, seconds=0.2)

    submitted = await batches.submit_batch(request, inputs)
    assert submitted.created and submitted.batch.total == 24
    batch_id = submitted.batch.batch_id
    again = await batches.submit_batch(request, inputs)  # the same request: the same batch
    assert not again.created and again.batch.batch_id == batch_id

    status = await _until(batches, batch_id, "FAILED", "SUCCEEDED")
    assert status.state == "FAILED", status
    assert status.counts == {"SUCCEEDED": 21, "FAILED": 3}
    assert status.tenant_id == tenant and status.total == 24 and status.max_running == 4
    assert _max_overlap(calls_dir / f"batch-{fix}.spans") <= 4

    failed = await batches.batch_pipelines(batch_id, tenant_id=tenant, state=PipelineState.FAILED)
    assert sorted(p.index for p in failed.items) == sorted(failing)
    page = await batches.batch_pipelines(batch_id, tenant_id=tenant, page_size=10)
    assert [p.index for p in page.items] == list(range(10)) and page.next_page_token
    assert page.items[3].state == "FAILED" and page.items[0].state == "SUCCEEDED"

    (calls_dir / f"{fix}.fixed").touch()
    retried = await batches.retry_failed(batch_id, "fixed", actor="test")
    assert (retried.retried_pipelines, retried.retried_stages) == (3, 3)
    status = await _until(batches, batch_id, "SUCCEEDED")
    assert status.state == "SUCCEEDED" and status.counts == {"SUCCEEDED": 24}

    lines = [line async for line in batches.batch_results(batch_id, tenant_id=tenant)]
    assert [line.index for line in lines] == list(range(24))
    assert all(line.state == "SUCCEEDED" for line in lines)
    assert [line.result["double"] for line in lines] == [2 * i for i in range(24)]
    # every pipeline ran its step once, the retried ones twice: nothing lost, nothing doubled
    for line in lines:
        runs = len(calls_of(calls_dir, line.pipeline_id))
        assert runs == (2 if line.index in failing else 1), (line.index, runs)

    with pytest.raises(Conflict):
        other = [*inputs[:-1], {"n": 99}]
        keyed = _request(registry, tenant=tenant, max_running=4, key="k1")
        await batches.submit_batch(keyed, inputs)
        await batches.submit_batch(keyed, other)


async def test_cancel_stops_starting_and_cancels_the_running(
    batches: TemporalBatchEngine, registry: StepRegistry, client: Client
) -> None:
    tenant = f"tn-{uuid.uuid4().hex[:8]}"
    inputs = [{"n": i, "fix": "cancel"} for i in range(30)]
    submitted = await batches.submit_batch(
        _request(registry, tenant=tenant, max_running=2, seconds=3.0), inputs
    )
    batch_id = submitted.batch.batch_id
    await asyncio.sleep(1.5)
    status = await batches.cancel_batch(batch_id, "wrong inputs", actor="test")
    assert status.cancel_reason == "wrong inputs" or status.state in ("RUNNING", "CANCELLED")
    status = await _until(batches, batch_id, "CANCELLED")
    assert status.state == "CANCELLED", status
    assert sum(status.counts.values()) == 30
    assert status.counts.get("CANCELLED", 0) >= 28  # the two running ones may have finished
    outcome = await client.get_workflow_handle(batch_id).result()
    assert outcome["state"] == "CANCELLED"
    listed = await batches.list_batches(tenant_ids=[tenant], next_page_token=None)
    assert [b.batch_id for b in listed.items] == [batch_id]
    assert listed.items[0].state == "CANCELLED" and listed.items[0].total == 30


async def test_a_batch_closed_without_its_last_upsert_is_listed_as_it_ended(
    batches: TemporalBatchEngine, registry: StepRegistry, client: Client
) -> None:
    """Visibility can keep a closed batch's RUNNING (it is eventually consistent): the list
    asks the workflow itself. A batch terminated mid-way closes with RUNNING recorded."""
    tenant = f"tn-{uuid.uuid4().hex[:8]}"
    inputs = [{"n": i, "fix": "terminated"} for i in range(6)]
    submitted = await batches.submit_batch(
        _request(registry, tenant=tenant, max_running=1, seconds=5.0), inputs
    )
    batch_id = submitted.batch.batch_id
    await client.get_workflow_handle(batch_id).terminate("test: no final upsert")
    desc = await client.get_workflow_handle(batch_id).describe()
    assert desc.typed_search_attributes.get(names.SA_PIPELINE_STATE) == "RUNNING"
    deadline = time.monotonic() + 60
    while True:
        listed = await batches.list_batches(tenant_ids=[tenant], next_page_token=None)
        if listed.items or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    status = await batches.get_batch(batch_id)
    assert status.state != "RUNNING" and status.finished_at is not None
    assert [(b.batch_id, b.state) for b in listed.items] == [(batch_id, status.state)]
    assert listed.items[0].finished_at == status.finished_at


async def test_a_pipeline_is_not_a_batch(batches: TemporalBatchEngine) -> None:
    with pytest.raises(BatchNotFound):
        await batches.get_batch("bt-nothing-here")
    desc_type = names.BATCH_WORKFLOW_TYPE
    assert desc_type == "BatchWorkflow"


async def test_results_stream_reads_no_status_of_an_ended_pipeline(
    batches: TemporalBatchEngine,
    engine: TemporalPipelineEngine,
    registry: StepRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Input order with a short read-ahead; an ended pipeline's line is its close event, and
    only the one held FAILED (open: its error is the workflow's to tell) is read by status."""
    import workflows.batch_reads as reads

    monkeypatch.setattr(reads, "READ_AHEAD", 2)
    tenant = f"tn-{uuid.uuid4().hex[:8]}"
    fix = f"never-{uuid.uuid4().hex[:8]}"
    inputs = [{"n": i, "fail": i == 4, "fix": fix} for i in range(8)]
    submitted = await batches.submit_batch(_request(registry, tenant=tenant, max_running=8), inputs)
    batch_id = submitted.batch.batch_id
    status = await _until(batches, batch_id, "FAILED", "SUCCEEDED")
    assert status.counts == {"SUCCEEDED": 7, "FAILED": 1}, status
    read_by_status: list[str] = []
    real = engine.get_pipeline

    async def counted(pipeline_id: str, **kwargs: Any) -> Any:
        read_by_status.append(pipeline_id)
        return await real(pipeline_id, **kwargs)

    monkeypatch.setattr(engine, "get_pipeline", counted)
    lines = [line async for line in batches.batch_results(batch_id, tenant_id=tenant)]
    assert [line.index for line in lines] == list(range(8))
    assert [line.state for line in lines] == ["SUCCEEDED"] * 4 + ["FAILED"] + ["SUCCEEDED"] * 3
    assert [line.result["double"] for line in lines if line.index != 4] == [
        2 * i for i in (0, 1, 2, 3, 5, 6, 7)
    ]
    assert lines[4].error is not None and "fails until fixed" in lines[4].error["message"]
    assert read_by_status == [lines[4].pipeline_id]
