"""The step cache on the interpreter (the fake's runtime, one cache shared by the runs): keys,
tenants, versions, TTL, ``retry_stage`` and the ``stage.cached`` event."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from pipeline_engine._interpreter import LocalRuntime, PipelineRun
from pipeline_engine._step_cache import CacheRequest, MemoryStepCache
from pipeline_engine.dsl import parse_config
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepContext, StepRegistry, step

CALLS: list[str] = []
FAILING: set[str] = set()


def registry(version: str | None = "1") -> StepRegistry:
    reg = StepRegistry()

    @step(registry=reg, name="measure", version=version)
    def measure(ctx: StepContext, scale: int = 1) -> dict[str, Any]:
        CALLS.append(ctx.stage_id)
        if ctx.stage_id in FAILING:
            raise RuntimeError("told to fail")
        return {"size": (ctx.previous or 0) * scale + len(CALLS)}

    @step(registry=reg, name="start")
    def start(ctx: StepContext, n: int = 2) -> int:
        return n

    return reg


REG = registry()


def config(cache: dict[str, Any] | None = None, *, scale: int = 3) -> dict[str, Any]:
    cached: dict[str, Any] = {
        "type": "step",
        "name": "measure",
        "id": "m",
        "kwargs": {"scale": scale},
    }
    cached["retry"] = {"max_attempts": 1}
    cached["cache"] = cache or {"ttl_s": 60}
    return {
        "name": "cached",
        "failure_hold_s": 60,
        "definition": {
            "type": "chain",
            "steps": [{"type": "step", "name": "start", "id": "s"}, cached],
        },
    }


async def run(
    cfg: dict[str, Any],
    cache: MemoryStepCache,
    *,
    pid: str,
    tenant: str | None = "t1",
    input: Any = None,
    reg: StepRegistry = REG,
    wait: bool = True,
) -> tuple[PipelineRun, asyncio.Task[PipelineState]]:
    runtime = LocalRuntime(reg, time_scale=0, cache=cache)
    pipeline = PipelineRun(
        plan=parse_config(cfg, registry=reg),
        pipeline_id=pid,
        tenant_id=tenant,
        input=input,
        settings={},
        trace_id="t",
        runtime=runtime,
    )
    pipeline.start()
    task = asyncio.create_task(pipeline.run())
    if wait:
        await asyncio.wait_for(task, 10)
    return pipeline, task


def cached_events(pipeline: PipelineRun) -> list[dict[str, Any]]:
    return [e.payload for e in pipeline.history() if e.type == "stage.cached"]


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()
    FAILING.clear()


async def test_a_second_run_reuses_the_result_without_an_attempt() -> None:
    cache = MemoryStepCache()
    first, _ = await run(config(), cache, pid="p1")
    second, _ = await run(config(), cache, pid="p2")
    assert CALLS == ["m"]  # the second run ran no attempt
    stage = second.status().stage("m")
    assert stage.state is StageState.SUCCEEDED
    assert stage.cached and stage.attempts == 0
    assert stage.result == first.status().stage("m").result
    assert second.status().result == first.status().result
    assert not first.status().stage("m").cached
    [event] = cached_events(second)
    assert event["stage_id"] == "m" and event["from_pipeline_id"] == "p1"
    assert len(event["key"]) == 64
    types = [e.type for e in second.history() if e.payload.get("stage_id") == "m"]
    assert types == ["stage.cached"]
    assert (cache.hits, cache.misses) == (1, 1)


async def test_never_shared_between_tenants() -> None:
    cache = MemoryStepCache()
    await run(config(), cache, pid="p1", tenant="t1")
    other, _ = await run(config(), cache, pid="p2", tenant="t2")
    assert CALLS == ["m", "m"]
    assert not cached_events(other)
    again, _ = await run(config(), cache, pid="p3", tenant="t2")
    assert cached_events(again)[0]["from_pipeline_id"] == "p2"


@pytest.mark.parametrize(
    "change",
    [
        {"scale": 4},  # other kwargs
        {"input": {"image": 2}},  # other input
    ],
)
async def test_other_kwargs_or_input_miss(change: dict[str, Any]) -> None:
    cache = MemoryStepCache()
    await run(config(), cache, pid="p1", input={"image": 1})
    cfg = config(scale=change.get("scale", 3))
    later, _ = await run(cfg, cache, pid="p2", input=change.get("input", {"image": 1}))
    assert CALLS == ["m", "m"] and not cached_events(later)


async def test_a_new_step_version_misses() -> None:
    cache = MemoryStepCache()
    await run(config(), cache, pid="p1", reg=registry("1"))
    later, _ = await run(config(), cache, pid="p2", reg=registry("2"))
    assert CALLS == ["m", "m"] and not cached_events(later)


async def test_a_key_expression_decides_alone() -> None:
    cache = MemoryStepCache()
    keyed = {"ttl_s": 60, "key": "input.image"}
    await run(config(keyed, scale=3), cache, pid="p1", input={"image": 7, "noise": 1})
    same, _ = await run(config(keyed, scale=5), cache, pid="p2", input={"image": 7, "noise": 2})
    other, _ = await run(config(keyed), cache, pid="p3", input={"image": 8})
    assert CALLS == ["m", "m"]
    assert cached_events(same) and not cached_events(other)


async def test_a_failing_key_expression_fails_the_stage() -> None:
    cache = MemoryStepCache()
    pipeline, task = await run(
        config({"ttl_s": 60, "key": "input.missing"}), cache, pid="p1", input={}, wait=False
    )
    for _ in range(1000):
        if pipeline.state is PipelineState.FAILED:
            break
        await asyncio.sleep(0.005)
    assert pipeline.status().stage("m").error.type == "ExpressionError"
    assert CALLS == []
    task.cancel()


async def test_an_entry_older_than_the_ttl_is_not_reused() -> None:
    cache = MemoryStepCache()
    await run(config({"ttl_s": 60}), cache, pid="p1")
    for entry in cache.entries.values():
        entry.created_at -= timedelta(seconds=61)
        entry.expires_at -= timedelta(seconds=61)
    later, _ = await run(config({"ttl_s": 60}), cache, pid="p2")
    assert CALLS == ["m", "m"] and not cached_events(later)
    assert len(cache.entries) == 1  # the write swept the expired entry


async def test_retry_stage_runs_anew_and_writes_its_result() -> None:
    cache = MemoryStepCache()
    FAILING.add("m")
    held, task = await run(config(), cache, pid="p1", wait=False)
    for _ in range(1000):
        if held.state is PipelineState.FAILED:
            break
        await asyncio.sleep(0.005)
    assert held.state is PipelineState.FAILED
    FAILING.clear()
    await run(config(), cache, pid="p2")  # a miss: runs and writes
    assert CALLS == ["m", "m"]
    held.retry_stage("m", "fixed")
    await asyncio.wait_for(task, 10)
    assert CALLS == ["m", "m", "m"]  # the retry ran the step although an entry was there
    assert held.state is PipelineState.SUCCEEDED
    assert not cached_events(held) and not held.status().stage("m").cached
    third, _ = await run(config(), cache, pid="p3")
    assert cached_events(third)[0]["from_pipeline_id"] == "p1"  # the retry's result was written


async def test_a_step_unknown_to_the_runtime_is_not_cached() -> None:
    cache = MemoryStepCache()
    request = CacheRequest(pipeline_id="p", stage_id="m", step="nope", ttl_s=5)
    runtime = LocalRuntime(REG, cache=cache)
    assert (await runtime.cache_lookup(request)).key is None
    await runtime.cache_write(request, 1)
    assert cache.entries == {}
