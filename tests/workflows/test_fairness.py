"""Tenants share dispatch fairly: one tenant's flood does not starve another tenant's pipeline.

The engine gives every pipeline its tenant as Temporal fairness key (inherited by its activities)
and the dev server runs with ``matching.enableFairness``. A worker with few activity slots lets the
flood's backlog build up in matching, where fairness (not arrival order) decides what goes next.
"""

from __future__ import annotations

from temporalio.client import Client

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state, wait_until
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker

FLOOD = 200  # activities in the flooding tenant's fan-out
SLOTS = 4  # activity slots of the only worker


def sleeps(n: int, seconds: float) -> dict[str, object]:
    step = {"type": "step", "name": "t_sleep", "kwargs": {"seconds": seconds}}
    return {"type": "group", "steps": [step] * n}


async def test_a_small_tenant_is_not_starved_by_another_tenants_flood(
    client: Client, task_queue: str, registry: StepRegistry
) -> None:
    engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    async with build_worker(
        client, task_queue=task_queue, registry=registry, max_concurrent_activities=SLOTS
    ):
        flood = await engine.create_pipeline(
            {"name": "flood", "definition": sleeps(FLOOD, 0.05)}, tenant_id="flood", start=True
        )

        async def flood_under_way() -> bool:
            status = await engine.get_pipeline(flood.pipeline_id)
            return any(s.state is StageState.SUCCEEDED for s in status.stages)

        await wait_until(flood_under_way, timeout=60)
        small = await engine.create_pipeline(
            {
                "name": "small",
                "definition": {"type": "chain", "steps": [{"type": "step", "name": "t_add"}] * 3},
            },
            tenant_id="small",
            start=True,
        )
        done = await wait_for_state(engine, small.pipeline_id, timeout=120)
        flood_then = await engine.get_pipeline(flood.pipeline_id)
        finished = sum(s.state is StageState.SUCCEEDED for s in flood_then.stages)
        assert done.state is PipelineState.SUCCEEDED and done.result == 3
        # in arrival order the small chain would wait for the whole backlog at its first step
        assert finished < FLOOD / 2, f"{finished} of {FLOOD} flood steps ran first"
        ended = await wait_for_state(engine, flood.pipeline_id, timeout=120)
        assert ended.state is PipelineState.SUCCEEDED
