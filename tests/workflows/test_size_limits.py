"""Size never hangs a pipeline: Temporal's limits are met with bounded work or a clear failure."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepRegistry
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.messages import RunLimits
from workflows.worker_factory import build_worker, connect


def s(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **({"kwargs": kw} if kw else {})}


async def run(engine: TemporalPipelineEngine, definition: Any, timeout: float = 60) -> Any:
    """Run to the end, waiting on the workflow (not polling queries: a busy worker answers late)."""
    config = {"name": "t", "definition": definition, "failure_hold_s": 0}
    created = await engine.create_pipeline(config, start=True)
    handle = engine.client.get_workflow_handle(created.pipeline_id)
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout)
    return await wait_for_state(engine, created.pipeline_id, timeout=timeout)


async def test_group_wider_than_the_in_flight_bound_finishes(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    """A group of 2,001 under Temporal's 2,000, scaled down (bench/ runs the big one)."""
    bounded = TemporalPipelineEngine(
        engine.client, task_queue=task_queue, limits=RunLimits(max_in_flight=5)
    )
    status = await run(bounded, {"type": "group", "steps": [s("t_add")] * 41})
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [1] * 41
    assert status.stage_counts == {"SUCCEEDED": 41}


async def test_steps_in_flight_are_bounded(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    bounded = TemporalPipelineEngine(
        engine.client, task_queue=task_queue, limits=RunLimits(max_in_flight=3)
    )
    members = [s("t_sleep_sync", seconds=0.5)] * 9
    status = await run(bounded, {"type": "group", "steps": members})
    assert status.state is PipelineState.SUCCEEDED, status.error
    starts = sorted(t for _, _, t in calls_of(calls_dir, status.pipeline_id))
    assert len(starts) == 9
    # three waves of three: the last wave cannot start before two waves have finished
    assert starts[-1] - starts[0] >= 2 * 0.5 - 0.05


async def test_without_a_store_a_result_too_large_for_the_workflow_fails_clearly(
    temporal_server: TemporalDevServer, task_queue: str, registry: StepRegistry
) -> None:
    """Payloads inline (no payload store): five results under the activity limit add up to a
    pipeline result over what the workflow's result can carry."""
    client = await connect(temporal_server.address)
    engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    async with build_worker(client, task_queue=task_queue, registry=registry):
        status = await run(engine, {"type": "group", "steps": [s("t_blob", size=450_000)] * 5})
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.type == "ResultTooLarge"
    stage = status.stage("t_blob")
    assert stage.state is StageState.SUCCEEDED and stage.result_omitted and stage.result is None


async def test_history_near_temporals_limit_fails_the_pipeline_for_good(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    """A chain too long for one history (Temporal terminates at 51,200 events), scaled down."""
    bounded = TemporalPipelineEngine(
        engine.client, task_queue=task_queue, limits=RunLimits(max_history_events=40)
    )
    config = {
        "name": "long",
        "definition": {"type": "chain", "steps": [s("t_add")] * 30},
        "hooks": {"on_failure": "t_hook"},
    }  # the default failure_hold_s: even so, nothing waits for a retry that could not help
    created = await bounded.create_pipeline(config, start=True)
    status = await wait_for_state(bounded, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.FAILED
    assert status.retryable_until is None
    assert status.error is not None and status.error.type == "HistoryTooLarge"
    failed = status.stage(status.error.stage_id or "")
    assert failed.state is StageState.FAILED and failed.attempts == 0
    assert status.stage_counts["SUCCEEDED"] >= 3 and status.stage_counts["SKIPPED"] >= 1
    events = await bounded.get_history(created.pipeline_id)
    assert events[-1].type == "pipeline.failed" and events[-1].payload["retryable"] is False
