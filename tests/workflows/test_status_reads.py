"""Status reads: one query while running; an ended pipeline is read without any worker."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker


def chain(*steps: dict[str, object]) -> dict[str, object]:
    return {"type": "chain", "steps": list(steps)}


async def test_ended_pipelines_are_read_without_a_worker(
    client: Client, task_queue: str, registry: StepRegistry
) -> None:
    engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    async with build_worker(client, task_queue=task_queue, registry=registry):
        ok = await engine.create_pipeline(
            {"name": "ok", "definition": {"type": "step", "name": "t_add"}},
            tenant_id="acme",
            start=True,
        )
        failed = await engine.create_pipeline(
            {
                "name": "ko",
                "failure_hold_s": 0,
                "definition": {"type": "step", "name": "t_fail", "retry": {"max_attempts": 1}},
            },
            tenant_id="acme",
            start=True,
        )
        for pid in (ok.pipeline_id, failed.pipeline_id):
            await wait_for_state(engine, pid)
    # no worker polls this queue any more: a query would wait; the final status does not
    fresh = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    async with asyncio.timeout(10):
        done = await fresh.get_pipeline(ok.pipeline_id)
        broken = await fresh.get_pipeline(failed.pipeline_id)
        assert (await fresh.get_pipeline(ok.pipeline_id)).result == 1  # kept: no Temporal call
    assert done.state is PipelineState.SUCCEEDED and done.tenant_id == "acme"
    assert broken.state is PipelineState.FAILED and broken.error is not None
    assert (broken.error.type, broken.error.message) == ("RuntimeError", "always fails")


async def test_a_running_pipeline_answers_its_status_query(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline(
        {
            "name": "slow",
            "definition": chain({"type": "step", "name": "t_sleep", "kwargs": {"seconds": 2}}),
        },
        tenant_id="acme",
        start=True,
    )
    status = await wait_for_state(engine, created.pipeline_id, PipelineState.RUNNING)
    assert status.tenant_id == "acme" and status.stages[0].stage_id == "t_sleep"
    assert (await wait_for_state(engine, created.pipeline_id)).state is PipelineState.SUCCEEDED
