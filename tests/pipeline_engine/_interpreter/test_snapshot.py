"""Continue-as-new, run directly: a run snapshot while idle goes on in a new run as if it had not
stopped (nothing that ran runs again, waits and holds carry over, the log stays whole)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pipeline_engine.states import PipelineState
from tests.pipeline_engine._interpreter.harness import CALLS, continued, held, make_run, until


def step(name: str, sid: str, **options: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "id": sid, **options}


async def _stop(walk: asyncio.Task[Any]) -> None:
    walk.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await walk


async def test_a_run_waiting_for_input_goes_on_in_a_new_run() -> None:
    CALLS.clear()
    config = {
        "definition": {
            "type": "chain",
            "steps": [
                step("add", "a", kwargs={"n": 1}),
                {"type": "input", "id": "ask", "schema": {"type": "integer"}},
                step("add", "z", kwargs={"n": 1}),
            ],
        }
    }
    first = make_run(config)
    walk = asyncio.create_task(first.run())
    await until(lambda: first.state is PipelineState.WAITING_INPUT)
    first.pause()
    assert first.idle
    second = continued(first)
    events_before = [e.type for e in first.history()]
    await _stop(walk)

    walk = asyncio.create_task(second.run())
    await until(lambda: bool(second.status().waiting_inputs))  # the walk is back at the input
    second.submit_input(41, "tester")
    assert await asyncio.wait_for(walk, 10) is PipelineState.SUCCEEDED
    assert second.status().result == 42
    assert second.runs == 2
    assert CALLS == [("a", 1), ("z", 1)]  # a ran in the first run only
    assert [e.type for e in second.history()][: len(events_before)] == events_before


async def test_a_held_stage_stays_held_in_the_new_run_and_resumes_on_retry() -> None:
    CALLS.clear()
    config = {
        "definition": {
            "type": "chain",
            "steps": [
                step("add", "a"),
                step("flaky", "f", kwargs={"fails": 1, "value": 5}, retry={"max_attempts": 1}),
            ],
        }
    }
    first = make_run(config)
    walk = asyncio.create_task(first.run())
    await until(held(first))
    first.pause()
    second = continued(first)
    await _stop(walk)

    walk = asyncio.create_task(second.run())
    await until(held(second))
    second.retry_stage("f", "after the move")
    assert await asyncio.wait_for(walk, 10) is PipelineState.SUCCEEDED
    assert second.status().result == 5
    assert CALLS == [("a", 1), ("f", 1), ("f", 2)]
