"""Sub-pipelines on the real server (child workflows) and in the fake's engine (child runs in
process): the same events in the parent and in each child, the same results and errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline_engine._interpreter._children import PinnedPipeline, PinnedPipelines
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.engine import PipelineEngine
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import PipelineVersionRef
from tests.histories.record import pinned_sub_pipelines as pinned
from tests.workflows.test_dsl_elements_parity import signature
from workflows.engine import TemporalPipelineEngine
from workflows.messages import NO_STORE_LIMITS


async def _ended(engine: PipelineEngine, pid: str) -> PipelineStatus:
    for _ in range(1200):
        status = await engine.get_pipeline(pid)
        if status.state not in (PipelineState.RUNNING, PipelineState.PENDING):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{pid} did not end")


async def _run(engine: PipelineEngine, prepared: PreparedConfig) -> dict[str, Any]:
    created = await engine.create_pipeline(prepared, tenant_id="acme", start=True)
    pid = created.pipeline_id
    done = await _ended(engine, pid)
    out: dict[str, Any] = {"": (done.state, done.result, signature(await engine.get_history(pid)))}
    for stage in done.stages:
        if stage.child_pipeline_id:
            child_id = stage.child_pipeline_id
            assert child_id == f"{pid}.{stage.stage_id}"
            child = await _ended(engine, child_id)
            assert child.tenant_id == "acme"
            events = signature(await engine.get_history(child_id))
            error = child.error.type if child.error else None
            out[stage.stage_id] = (child.state, child.result, error, events)
    out["errors"] = {s.stage_id: s.error and s.error.message.split(" (")[0] for s in done.stages}
    return out


async def test_the_server_and_the_fake_run_sub_pipelines_alike(
    engine: TemporalPipelineEngine, registry: StepRegistry
) -> None:
    prepared = pinned(registry)
    real = await _run(engine, prepared)
    local = LocalPipelineEngine(registry, time_scale=0)
    try:
        fake = await _run(local, prepared)
    finally:
        await local.aclose()
    assert real == fake
    state, result, _ = real[""]
    assert state is PipelineState.SUCCEEDED
    assert result == [7, 8, None, None]  # 5 + 2, (5 + 1) + 2: a child goes on from its input
    assert set(real) == {"", "sizing", "again", "broken", "errors"}  # "never" was skipped
    assert real["broken"][:3] == (PipelineState.FAILED, None, "RuntimeError")
    assert real["errors"]["broken"] == "sub-pipeline 'broken'"


REDRIVEN = {
    "name": "redriven",
    "definition": {"type": "chain", "steps": [{"type": "pipeline", "name": "fixable"}]},
}
FIXABLE = {
    "name": "fixable",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_add", "kwargs": {"n": 2}},
            {"type": "step", "name": "t_double", "kwargs": {"fail_on": 2}},
        ],
    },
}


async def _redrive(engine: PipelineEngine, prepared: PreparedConfig, calls: Path) -> Any:
    """Run until the child fails, fix the rerun, retry the stage: what each run did."""
    pid = (await engine.create_pipeline(prepared, tenant_id="acme", start=True)).pipeline_id
    failed = await _ended(engine, pid)
    assert failed.state is PipelineState.FAILED
    (calls / f"{pid}.fixable+2.fixed").touch()
    await engine.retry_stage(pid, "fixable", "fixed")
    done = await _ended(engine, pid)
    first, rerun = f"{pid}.fixable", f"{pid}.fixable+2"
    children = [await engine.get_pipeline(c) for c in (first, rerun)]
    return (
        done.state,
        done.result,
        signature(await engine.get_history(pid)),
        [(c.state, [(s.stage_id, s.state, s.attempts) for s in c.stages]) for c in children],
        [signature(await engine.get_history(c)) for c in (first, rerun)],
    )


async def test_a_retry_redrives_the_child_alike(
    engine: TemporalPipelineEngine, registry: StepRegistry, calls_dir: Path
) -> None:
    pinned = PinnedPipelines(
        labels={"fixable": "fixable@1"},
        pipelines={
            "fixable@1": PinnedPipeline(
                ref=PipelineVersionRef(name="fixable", version=1, digest="d"),
                config=PipelineConfig.model_validate(FIXABLE),
            )
        },
    )
    prepared = replace(PreparedConfig.of(REDRIVEN, registry=registry), pinned=pinned)
    real = await _redrive(engine, prepared, calls_dir)
    local = LocalPipelineEngine(registry, time_scale=0)
    try:
        fake = await _redrive(local, prepared, calls_dir)
    finally:
        await local.aclose()
    assert real == fake
    assert real[:2] == (PipelineState.SUCCEEDED, 4)
    ok = PipelineState.SUCCEEDED
    assert real[3][1] == (ok, [("t_add", ok, 0), ("t_double", ok, 1)])  # t_add reused


MAPPED = {
    "name": "mapped",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_items", "kwargs": {"count": 5}},
            {
                "type": "map",
                "id": "each",
                "items": "/items",
                "element": {"type": "pipeline", "name": "sizing", "input": {"$expr": "index"}},
            },
        ],
    },
}


async def test_sub_pipelines_in_a_sharded_map_run_as_children_of_the_shards(
    engine: TemporalPipelineEngine, registry: StepRegistry
) -> None:
    sharding = TemporalPipelineEngine(
        engine.client,
        task_queue=engine.task_queue,
        registry=registry,
        limits=NO_STORE_LIMITS.model_copy(update={"shard_width": 2, "progress_every_s": 0.2}),
    )
    prepared = replace(PreparedConfig.of(MAPPED, registry=registry), pinned=pinned(registry).pinned)
    created = await sharding.create_pipeline(prepared, tenant_id="acme", start=True)
    done = await _ended(sharding, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED, done.error
    assert done.result == [2, 3, 4, 5, 6]  # each child: its index, then two t_add
    child = await _ended(sharding, f"{created.pipeline_id}.sizing[4]")
    assert (child.state, child.result, child.tenant_id) == (PipelineState.SUCCEEDED, 6, "acme")
