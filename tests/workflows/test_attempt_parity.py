"""A step attempt is run by one module in both runtimes (pipeline_engine.steps._attempt): the same
failing step gives the same state, attempts, error type and error text on Temporal (the activity)
and in-process (the fake's local runtime)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine

RETRY = {"max_attempts": 2, "initial_interval_s": 0.1}
CASES = {
    # kwargs the step does not take: prepared without a registry, so only the attempt finds out
    "bad kwargs": {"type": "step", "name": "t_add", "kwargs": {"n": "abc"}, "retry": RETRY},
    "raises": {"type": "step", "name": "t_fail", "kwargs": {"message": "broken"}, "retry": RETRY},
}


async def _local_end(engine: LocalPipelineEngine, pid: str) -> PipelineStatus:
    for _ in range(400):
        status = await engine.get_pipeline(pid)
        if status.state is PipelineState.FAILED:
            return status
        await asyncio.sleep(0.025)
    raise AssertionError(f"{pid} did not fail: {status.state}")


def _seen(status: PipelineStatus) -> tuple[Any, ...]:
    (stage,) = status.stages
    assert stage.error is not None
    return (status.state, stage.attempts, stage.error.type, stage.error.message)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_same_failing_step_reads_the_same_in_both_runtimes(
    case: str, engine: TemporalPipelineEngine, registry: StepRegistry
) -> None:
    config = PreparedConfig.of({"name": f"parity-{case}", "definition": CASES[case]}, registry=None)
    local = LocalPipelineEngine(registry, time_scale=0)
    try:
        on_local = _seen(
            await _local_end(local, (await local.create_pipeline(config, start=True)).pipeline_id)
        )
    finally:
        await local.aclose()
    created = await engine.create_pipeline(config, start=True)
    on_temporal = _seen(await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED))
    assert on_temporal == on_local
    if case == "bad kwargs":
        _, attempts, kind, message = on_local
        assert (attempts, kind) == (1, "InvalidInput")  # not retried: another attempt cannot help
        assert message.startswith("invalid kwargs for step 't_add': ")
        assert "n\n  Input should be a valid integer" in message
    else:
        assert on_local[1:] == (2, "RuntimeError", "broken")
