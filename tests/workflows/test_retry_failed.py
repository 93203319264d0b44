"""``retry_failed``: every stage held in FAILED retried at once, by the engine (the update), by
the ``retry_failed`` signal (``temporal workflow signal --name retry_failed``), through REST and
the SDK (the fake, over the real app)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_engine.errors import InvalidState
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.testing import FakePipelineEngine
from tests.support.waiting import wait_for_state, wait_until
from workflows import names
from workflows.engine import TemporalPipelineEngine


def flaky_map(name: str) -> dict[str, Any]:
    """Three items, each failing its first attempt: three stages held in FAILED at once."""
    element = {
        "type": "step",
        "name": "t_flaky",
        "kwargs": {"fail_times": 1},
        "retry": {"max_attempts": 1},
    }
    return {
        "name": name,
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "t_items", "kwargs": {"count": 3}},
                {"type": "map", "id": "each", "items": "/items", "element": element},
            ],
        },
    }


async def _all_held(engine: TemporalPipelineEngine, pid: str) -> None:
    async def held() -> bool:
        status = await engine.get_pipeline(pid)
        failed = [s for s in status.stages if s.state is StageState.FAILED]
        return status.state is PipelineState.FAILED and len(failed) == 3

    await wait_until(held, timeout=60)


async def test_retry_failed_update_and_signal(engine: TemporalPipelineEngine) -> None:
    by_update = (await engine.create_pipeline(flaky_map("rf-update"), start=True)).pipeline_id
    by_signal = (await engine.create_pipeline(flaky_map("rf-signal"), start=True)).pipeline_id
    await _all_held(engine, by_update)
    assert await engine.retry_failed(by_update, "all at once") is PipelineState.RUNNING
    retried = [
        e.payload["stage_id"]
        for e in await engine.get_history(by_update)
        if e.type == "stage.retry_requested"
    ]
    assert sorted(retried) == ["t_flaky[0]", "t_flaky[1]", "t_flaky[2]"]
    done = await wait_for_state(engine, by_update, PipelineState.SUCCEEDED, timeout=60)
    assert [s.attempts for s in done.stages if s.stage_id.startswith("t_flaky")] == [2, 2, 2]

    await _all_held(engine, by_signal)
    handle = engine.client.get_workflow_handle(by_signal)
    await handle.signal(names.UPDATE_RETRY_FAILED, {"reason": "from the temporal CLI"})
    await wait_for_state(engine, by_signal, PipelineState.SUCCEEDED, timeout=60)
    with pytest.raises(InvalidState, match="ended"):
        await engine.retry_failed(by_signal, "nothing left")


def test_retry_failed_through_rest_and_the_sdk() -> None:
    import tests.support.steps  # noqa: F401  (registers t_items, t_flaky)

    fake = FakePipelineEngine()
    pid = fake.create_pipeline(flaky_map("rf-fake"))
    with pytest.raises(InvalidState, match="nothing to retry"):
        fake.retry_failed(pid, "not started")
    fake.start_pipeline(pid)
    fake.wait_for(pid, [PipelineState.FAILED], timeout=30)
    assert fake.retry_failed(pid, "fixed") is PipelineState.RUNNING
    assert (
        fake.wait_for(pid, [PipelineState.SUCCEEDED], timeout=30).state is PipelineState.SUCCEEDED
    )
