"""Runs pipelines on the interpreter directly, over the in-process runtime (the fake's), with
steps of its own registry: no Temporal, no API, so a test sees the walk and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline_engine._interpreter import (
    LocalRuntime,
    PipelineRun,
    ShardCall,
    ShardResult,
    StepCall,
)
from pipeline_engine._interpreter._blocks import page_of, resolve_history, resolve_status
from pipeline_engine._interpreter._handoff import HistoryPartsQuery, PartsQuery
from pipeline_engine.dsl import GroupPlan, Plan, StagePlan, node_from_wire, parse_config, stages_of
from pipeline_engine.events import Event
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PipelineStatus, StagePage
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


def _shard_plan(plan: Plan, call: ShardCall) -> Plan:
    """The plan a shard workflow makes: its members' stages (as workflows/shard_workflow.py)."""
    known: list[StagePlan] = []
    templates: list[StagePlan] = []
    if call.template is not None:
        inner, nested = stages_of(node_from_wire(call.template))
        templates = [*inner, *nested]
    for member in call.members or []:
        s, t = stages_of(node_from_wire(member))
        known.extend(s)
        templates.extend(t)
    return Plan(plan.config, GroupPlan((), None, "$"), tuple(known), templates=tuple(templates))


class ShardingRuntime(LocalRuntime):
    """The in-process runtime, but fan-outs wider than ``shard_width`` run in shards: each a
    shard run of the interpreter in this process, reporting to the pipeline when it ends."""

    def __init__(self, plan: Plan, shard_width: int) -> None:
        super().__init__(REGISTRY, time_scale=0, before_attempt=_record_call)
        self._plan = plan
        self._width = shard_width
        self.parent: PipelineRun | None = None
        self.shards: list[ShardCall] = []
        self.runs: dict[str, PipelineRun] = {}
        """Each shard's run by its source name (a thin parent's reads go there)."""

    @property
    def shard_width(self) -> int | None:  # type: ignore[override]
        return self._width

    shards_in_flight = 2

    async def run_shard(self, call: ShardCall) -> ShardResult:
        self.shards.append(call)
        runtime = LocalRuntime(REGISTRY, time_scale=0, before_attempt=_record_call)
        shard = _new_run(_shard_plan(self._plan, call), runtime, None, shard=True)
        source = f"shard-{len(self.shards)}"
        self.runs[source] = shard
        result = await shard.run_shard(call)
        progress = shard.progress(source)
        if progress is not None and self.parent is not None:
            self.parent.apply_progress(progress)
        return result


def _new_run(
    plan: Plan, runtime: LocalRuntime, max_in_flight: int | None, *, shard: bool = False
) -> PipelineRun:
    return PipelineRun(
        plan=plan,
        pipeline_id="unit-1",
        tenant_id=None,
        input={"given": True},
        settings={},
        trace_id="trace-unit",
        runtime=runtime,
        max_in_flight=max_in_flight,
        shard=shard,
    )


def make_run(
    config: dict[str, Any], *, max_in_flight: int | None = None, shard_width: int | None = None
) -> PipelineRun:
    """A started run of ``config`` (its ``name`` filled in), not yet walking; with
    ``shard_width``, on a :class:`ShardingRuntime`."""
    plan = parse_config({"name": "unit", **config}, registry=REGISTRY)
    if shard_width is None:
        run = _new_run(
            plan, LocalRuntime(REGISTRY, time_scale=0, before_attempt=_record_call), max_in_flight
        )
    else:
        runtime = ShardingRuntime(plan, shard_width)
        run = runtime.parent = _new_run(plan, runtime, max_in_flight)
    run.start()
    return run


async def run_config(
    config: dict[str, Any],
    *,
    max_in_flight: int | None = None,
    shard_width: int | None = None,
    drive: Callable[[PipelineRun], Awaitable[None]] | None = None,
) -> PipelineRun:
    """Run ``config`` to its end (``drive`` acts on the run while it walks)."""
    CALLS.clear()
    run = make_run(config, max_in_flight=max_in_flight, shard_width=shard_width)
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


async def _fetch(run: PipelineRun, source: str, kind: str, query: object) -> object:
    runtime = run._rt
    assert isinstance(runtime, ShardingRuntime)
    shard = runtime.runs[source]
    if kind == "status":
        assert isinstance(query, PartsQuery)
        return shard.status_parts(query)
    assert isinstance(query, HistoryPartsQuery)
    return shard.history_parts(query)


async def whole_status(run: PipelineRun, page: StagePage | None = None) -> PipelineStatus:
    """A page of ``run``'s status (default: the first) with what its shards hold read from them,
    as the engine reads it."""
    parts = run.status_parts(page_of(page))
    return await resolve_status(parts, lambda *a: _fetch(run, *a))


async def whole_history(
    run: PipelineRun, *, after_id: int | None = None, limit: int | None = None
) -> list[Event]:
    """``run``'s events with its shards' read from them, as the engine reads them."""
    parts = run.history_parts(HistoryPartsQuery(after_id=after_id, limit=limit))
    return await resolve_history(parts, lambda *a: _fetch(run, *a))


def stage_states(run: PipelineRun) -> dict[str, StageState]:
    """Every stage's state by id."""
    return {s.stage_id: s.state for s in run.status().stages}


def event_types(run: PipelineRun, stage_id: str) -> list[str]:
    """Types of the events of one stage, in order."""
    return [e.type for e in run.history() if e.payload.get("stage_id") == stage_id]


def continued(run: PipelineRun) -> PipelineRun:
    """A new run of the same pipeline going on from ``run``'s snapshot (continue-as-new)."""
    runtime = LocalRuntime(REGISTRY, time_scale=0, before_attempt=_record_call)
    return PipelineRun(
        plan=run._plan,
        pipeline_id="unit-1",
        tenant_id=None,
        input={"given": True},
        settings={},
        trace_id="trace-unit",
        runtime=runtime,
        resume=run.snapshot(),
    )
