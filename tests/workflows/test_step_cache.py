"""The step cache on the real server: a second pipeline reuses a result (no activity, the stage
SUCCEEDED with ``cached``, a ``stage.cached`` event), in the payload store under the tenant's
folder, never for another tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from pipeline_engine._step_cache import CacheRequest
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepRegistry
from tests.support.promtool import assert_documented
from tests.support.waiting import wait_for_state, wait_until
from workflows import step_cache
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_retention import sweep_payloads
from workflows.payload_store import PayloadStore, open_payload_store
from workflows.step_cache import CACHE_FOLDER
from workflows.worker_factory import build_worker, connect


def cached_config(ttl_s: float = 600) -> dict[str, Any]:
    stamp = {"type": "step", "name": "t_stamp", "id": "stamp", "cache": {"ttl_s": ttl_s}}
    return {
        "name": "cached",
        "definition": {
            "type": "chain",
            "steps": [{"type": "step", "name": "t_add", "id": "add"}, stamp],
        },
    }


async def _run(engine: TemporalPipelineEngine, tenant: str, input: Any) -> Any:
    created = await engine.create_pipeline(
        cached_config(),
        input=input,
        tenant_id=tenant,
        idempotency_key=uuid.uuid4().hex,  # a new pipeline each time
        start=True,
    )
    status = await wait_for_state(engine, created.pipeline_id, timeout=60)
    assert status.state is PipelineState.SUCCEEDED, status.error
    history = await engine.get_history(created.pipeline_id)
    return created.pipeline_id, status, history


async def test_a_second_pipeline_reuses_the_result_of_the_first(
    engine: TemporalPipelineEngine, payload_store: PayloadStore
) -> None:
    tenant, input = f"cache-{uuid.uuid4().hex[:8]}", {"image": uuid.uuid4().hex}
    first_id, first, first_events = await _run(engine, tenant, input)
    second_id, second, events = await _run(engine, tenant, input)
    stage = second.stage("stamp")
    assert stage.state is StageState.SUCCEEDED and stage.cached and stage.attempts == 0
    assert stage.result == first.stage("stamp").result  # the same stamp: reused, not re-run
    assert not first.stage("stamp").cached
    [cached] = [e.payload for e in events if e.type == "stage.cached"]
    assert cached["from_pipeline_id"] == first_id and cached["stage_id"] == "stamp"
    assert [e.type for e in events if e.payload.get("stage_id") == "stamp"] == ["stage.cached"]
    assert not [e for e in first_events if e.type == "stage.cached"]
    paths = [
        p async for batch in payload_store.list_paths(f"{CACHE_FOLDER}/{tenant}") for p in batch
    ]
    assert len(paths) == 1 and cached["key"] in paths[0]
    other_id, other, _ = await _run(engine, f"{tenant}-other", input)
    assert not other.stage("stamp").cached  # another tenant never reads this tenant's entry
    assert other.stage("stamp").result != stage.result
    assert second_id != other_id


def _request(previous: Any, ttl_s: float, tenant: str = "a") -> CacheRequest:
    return CacheRequest(
        tenant_id=tenant, pipeline_id="p", stage_id="s", step="x", ttl_s=ttl_s, previous=previous
    )


async def test_the_sweep_deletes_expired_entries_only_and_is_bounded(
    tmp_path: Path, client: Client
) -> None:
    store = open_payload_store(str(tmp_path))
    now = datetime.now(UTC)
    an_hour_ago = now - timedelta(hours=1)
    short, long = _request(1, ttl_s=60), _request(2, ttl_s=86400)
    assert await step_cache.write(store, short, "1", "short", an_hour_ago)
    assert await step_cache.write(store, long, "1", "long", an_hour_ago)
    assert (await step_cache.lookup(store, short, "1", now)).miss == "expired"
    assert await step_cache.sweep_step_cache(store, now=now) == 1
    assert (await step_cache.lookup(store, short, "1", now)).miss == "absent"
    found = await step_cache.lookup(store, long, "1", now)
    assert found.answer.hit and found.answer.result == "long"
    # a reader with a shorter ttl_s does not reuse an entry older than it
    assert (await step_cache.lookup(store, _request(2, ttl_s=60), "1", now)).miss == "expired"
    assert (await step_cache.lookup(store, _request(2, 86400, "b"), "1", now)).miss == "absent"
    for i in range(5):
        await step_cache.write(store, _request(10 + i, ttl_s=1), "1", i, an_hour_ago)
    assert await step_cache.sweep_step_cache(store, now=now, max_deletes=2) == 2
    assert await step_cache.sweep_step_cache(store, now=now) == 3
    # the payload retention sweep leaves the cache's folder alone, whatever its age
    report = await sweep_payloads(store, client, retention_s=0, now=now + timedelta(days=400))
    assert report.deleted_folders == 0
    assert (await step_cache.lookup(store, long, "1", now)).answer.hit


async def test_a_rewritten_key_keeps_one_entry(tmp_path: Path) -> None:
    store = open_payload_store(str(tmp_path))
    now = datetime.now(UTC)
    request = _request(1, ttl_s=600)
    await step_cache.write(store, request, "1", "old", now - timedelta(seconds=5))
    await step_cache.write(store, request, "1", "new", now)
    paths = [p async for batch in store.list_paths(CACHE_FOLDER) for p in batch]
    assert len(paths) == 1
    assert (await step_cache.lookup(store, request, "1", now)).answer.result == "new"


async def test_hits_and_misses_are_counted_on_the_worker_page(
    temporal_server: TemporalDevServer, registry: StepRegistry, payload_store: PayloadStore
) -> None:
    port = free_port()
    client = await connect(temporal_server.address, metrics_port=port, payload_store=payload_store)
    queue = f"cache-metrics-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=queue, registry=registry):
        engine = TemporalPipelineEngine(client, task_queue=queue, registry=registry)
        tenant, input = f"cache-{uuid.uuid4().hex[:8]}", {"image": uuid.uuid4().hex}
        await _run(engine, tenant, input)
        await _run(engine, tenant, input)
        text = ""

        async def scraped() -> bool:
            nonlocal text
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            return "pipeline_engine_step_cache_hits_total{" in text

        await wait_until(scraped, timeout=20, interval=0.5)
    assert "pipeline_engine_step_cache_misses_total{" in text and 'reason="absent"' in text
    assert 'step="t_stamp"' in text
    assert_documented(text, prefixes=("pipeline_engine_step_cache",))


async def test_retry_stage_runs_anew_on_the_server(engine: TemporalPipelineEngine) -> None:
    tenant, input = f"cache-{uuid.uuid4().hex[:8]}", {"image": uuid.uuid4().hex}
    flaky = {
        "type": "step",
        "name": "t_flaky",
        "id": "flaky",
        "kwargs": {"fail_times": 1},
        "retry": {"max_attempts": 1},
        "cache": {"ttl_s": 600},
    }
    config = {"name": "cached-retry", "definition": flaky}
    created = await engine.create_pipeline(
        config, input=input, tenant_id=tenant, idempotency_key="held", start=True
    )
    await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED, timeout=60)
    await engine.retry_stage(created.pipeline_id, "flaky", "fixed")
    done = await wait_for_state(engine, created.pipeline_id, timeout=60)
    assert done.state is PipelineState.SUCCEEDED and not done.stage("flaky").cached
    assert done.stage("flaky").attempts == 2  # the retry ran the step
    later = await engine.create_pipeline(
        config, input=input, tenant_id=tenant, idempotency_key="later", start=True
    )
    reused = await wait_for_state(engine, later.pipeline_id, timeout=60)
    assert reused.stage("flaky").cached  # the retry's result was written
    events = await engine.get_history(later.pipeline_id)
    [cached] = [e.payload for e in events if e.type == "stage.cached"]
    assert cached["from_pipeline_id"] == created.pipeline_id


async def test_a_broken_store_is_a_miss_and_a_failed_write_never_raises(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_payload_store(str(root))
    root.rmdir()
    root.write_text("not a directory")  # every operation fails
    failed: list[str] = []
    store.on_error = failed.append
    now = datetime.now(UTC)
    request = _request(1, ttl_s=600)
    found = await step_cache.lookup(store, request, "1", now)
    assert found.miss == "unavailable" and found.answer.key is None and not found.answer.hit
    assert not await step_cache.write(store, request, "1", "x", now)
    assert failed and set(failed) <= {"list", "put", "delete"}
