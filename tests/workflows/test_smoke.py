from __future__ import annotations

import asyncio

from workflows.engine import TemporalPipelineEngine
from pipeline_engine.states import PipelineState


async def wait_state(engine: TemporalPipelineEngine, pid: str, *states: PipelineState, timeout: float = 30) -> PipelineState:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        st = await engine.get_status(pid)
        if st in states or loop.time() > end:
            return st
        await asyncio.sleep(0.1)


async def test_smoke(engine: TemporalPipelineEngine) -> None:
    cfg = {"name": "smoke", "definition": {"type": "chain", "steps": [
        {"type": "step", "name": "t_add", "kwargs": {"n": 2}},
        {"type": "chord", "group": {"type": "group", "steps": [{"type": "step", "name": "t_add"}, {"type": "step", "name": "t_add", "kwargs": {"n": 10}}]},
         "callback": {"type": "step", "name": "t_sum"}}]}}
    created = await engine.create_pipeline(cfg, tenant_id="acme")
    assert created.state is PipelineState.PENDING
    assert await engine.start_pipeline(created.pipeline_id) is PipelineState.RUNNING
    st = await wait_state(engine, created.pipeline_id, PipelineState.SUCCEEDED, PipelineState.FAILED)
    status = await engine.get_pipeline(created.pipeline_id)
    print(status.model_dump_json(indent=1))
    assert st is PipelineState.SUCCEEDED
    assert status.result == 15
