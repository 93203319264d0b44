"""A payload sent straight to Temporal (not through the API) is checked by the workflow's update
validator: with a backtracking regex engine ``^(a+)+$`` froze the shared worker (issue 19)."""

from __future__ import annotations

import asyncio
import time

import pytest

from pipeline_engine.errors import InvalidInput
from pipeline_engine.states import PipelineState
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine

EVIL_INPUT = {
    "type": "input",
    "id": "ask",
    "schema": {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}},
}


async def test_evil_pattern_in_the_workflow_validator_stays_linear(
    engine: TemporalPipelineEngine,
) -> None:
    created = await engine.create_pipeline(
        {"name": "redos", "definition": {"type": "chain", "steps": [EVIL_INPUT]}},
        tenant_id="tenant-a",
        start=True,
    )
    pid = created.pipeline_id
    await wait_for_state(engine, pid, PipelineState.WAITING_INPUT)
    other = await engine.create_pipeline(
        {"name": "calm", "definition": {"type": "step", "name": "t_add", "kwargs": {"n": 1}}},
        tenant_id="tenant-b",
    )

    async def refused() -> InvalidInput:
        with pytest.raises(InvalidInput) as info:
            await engine.submit_input(pid, {"s": "a" * 200_000 + "!"}, "mallory")
        return info.value

    started = time.perf_counter()
    err, status = await asyncio.gather(refused(), engine.get_pipeline(other.pipeline_id))
    elapsed = time.perf_counter() - started
    assert [p.path for p in err.problems] == ["$.payload.s"]
    assert status.state is PipelineState.PENDING and status.note is None  # a worker answered
    assert elapsed < 2.0, elapsed
    assert await engine.submit_input(pid, {"s": "aaaa"}, "ana") is not PipelineState.WAITING_INPUT
