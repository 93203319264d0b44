"""A step routed to its own task queue runs on the workers of that queue only."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state, wait_until
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker


async def test_step_runs_on_its_own_queue(
    engine: TemporalPipelineEngine, client: Client, registry: StepRegistry
) -> None:
    heavy = f"heavy-{uuid.uuid4().hex[:8]}"
    config = {
        "name": "routed",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "t_add"},
                {"type": "step", "name": "t_echo", "resources": {"task_queue": heavy}},
            ],
        },
    }
    created = await engine.create_pipeline(config, start=True)
    handle = client.get_workflow_handle(created.pipeline_id)

    async def routed_stage_scheduled() -> bool:
        status = await engine.get_pipeline(created.pipeline_id)
        return status.stage("t_echo").state is StageState.RUNNING

    await wait_until(routed_stage_scheduled)
    await asyncio.sleep(1.0)  # no worker polls the heavy queue: nothing may pick it up
    pending = (await handle.describe()).raw_description.pending_activities
    assert [(p.activity_id, p.state) for p in pending] == [
        ("t_echo", PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED)
    ]

    async with build_worker(client, task_queue=heavy, registry=registry, activities_only=True):
        done = await wait_for_state(engine, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED
    assert done.result["previous"] == 1
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    queues = {a.activity_id: a.task_queue.name for a in scheduled}
    assert queues["t_echo"] == heavy
    assert queues["t_add"] != heavy
