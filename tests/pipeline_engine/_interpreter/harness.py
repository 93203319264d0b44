"""Runs pipelines on the interpreter directly, over the in-process runtime (the fake's), with
steps of its own registry: no Temporal, no API, so a test sees the walk and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline_engine._interpreter import LocalRuntime, PipelineRun, StepCall
from pipeline_engine.dsl import parse_config
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepContext, StepRegistry, step

REGISTRY = StepRegistry()
CALLS: list[tuple[str, int]] = []
"""(stage id, attempt) of every step attempt of the current test, in the order they began."""


@step(registry=REGISTRY)
def add(ctx: StepContext, n: int = 1) -> int:
    """The previous value (0 when not a number) plus ``n``."""
    return (ctx.previous if isinstance(ctx.previous, int) else 0) + n


@step(registry=REGISTRY)
def echo(ctx: StepContext) -> Any:
    """The previous value as it came."""
    return ctx.previous


@step(registry=REGISTRY)
def items(ctx: StepContext, count: int = 3) -> dict[str, Any]:
    """``{"items": [0, 1, ..., count - 1]}``."""
    return {"items": list(range(count))}


@step(registry=REGISTRY)
def double(ctx: StepContext) -> int:
    """Twice the previous value."""
    return int(ctx.previous) * 2


@step(registry=REGISTRY)
def flaky(ctx: StepContext, fails: int = 1, value: int = 7) -> int:
    """Fails its first ``fails`` attempts (counted across retries), then returns ``value``."""
    if ctx.attempt <= fails:
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return value


@step(registry=REGISTRY)
def boom(ctx: StepContext) -> None:
    """Always fails."""
    raise ValueError(f"boom at {ctx.stage_id}")


@step(registry=REGISTRY)
def rescue(ctx: StepContext) -> dict[str, Any]:
    """A failure handler: names the stage it rescued."""
    return {"rescued": ctx.previous["stage_id"], "error": ctx.previous["error"]["type"]}


@step(registry=REGISTRY)
async def slow(ctx: StepContext) -> str:
    """Takes a long time (a test cancels it before it ends)."""
    await asyncio.sleep(30)
    return "slow"


async def _record_call(call: StepCall, attempt: int) -> None:
    CALLS.append((call.stage_id, attempt))


def make_run(config: dict[str, Any], *, max_in_flight: int | None = None) -> PipelineRun:
    """A started run of ``config`` (its ``name`` filled in), not yet walking."""
    plan = parse_config({"name": "unit", **config}, registry=REGISTRY)
    runtime = LocalRuntime(REGISTRY, time_scale=0, before_attempt=_record_call)
    run = PipelineRun(
        plan=plan,
        pipeline_id="unit-1",
        tenant_id=None,
        input={"given": True},
        settings={},
        trace_id="trace-unit",
        runtime=runtime,
        max_in_flight=max_in_flight,
    )
    run.start()
    return run


async def run_config(
    config: dict[str, Any],
    *,
    max_in_flight: int | None = None,
    drive: Callable[[PipelineRun], Awaitable[None]] | None = None,
) -> PipelineRun:
    """Run ``config`` to its end (``drive`` acts on the run while it walks)."""
    CALLS.clear()
    run = make_run(config, max_in_flight=max_in_flight)
    walk = asyncio.create_task(run.run())
    if drive is not None:
        await drive(run)
    await asyncio.wait_for(walk, 10)
    return run


async def until(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Wait (polling the loop) until ``predicate()``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


def held(run: PipelineRun) -> Callable[[], bool]:
    """Whether the run is held in FAILED (a stage waits for ``retry_stage``)."""
    return lambda: run.state is PipelineState.FAILED and run.status().retryable_until is not None


def stage_states(run: PipelineRun) -> dict[str, StageState]:
    """Every stage's state by id."""
    return {s.stage_id: s.state for s in run.status().stages}


def event_types(run: PipelineRun, stage_id: str) -> list[str]:
    """Types of the events of one stage, in order."""
    return [e.type for e in run.history() if e.payload.get("stage_id") == stage_id]
