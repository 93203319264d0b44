"""`local` steps run as Temporal local activities; status, events and retry_stage stay the same."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType

from pipeline_engine.states import PipelineState, StageState
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine

FAST_RETRY = {"max_attempts": 3, "initial_interval_s": 0.05, "backoff": 1.0}


def s(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **extra}


async def event_types(engine: TemporalPipelineEngine, pipeline_id: str) -> list[str]:
    history = await engine.client.get_workflow_handle(pipeline_id).fetch_history()
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


async def test_local_and_regular_steps_share_data_flow_status_and_events(
    engine: TemporalPipelineEngine,
) -> None:
    config = {
        "name": "local",
        "definition": {
            "type": "chain",
            "steps": [
                s("t_sleep_sync", id="h", kwargs={"seconds": 0.3}, local=True),  # heartbeats
                s("t_add", id="a", kwargs={"n": 1}, local=True),
                s("t_local_add", id="b", kwargs={"n": 10}),  # local by its registration
                s("t_add", id="c", kwargs={"n": 100}),  # a regular activity
            ],
        },
    }
    created = await engine.create_pipeline(config, start=True)
    status = await wait_for_state(engine, created.pipeline_id)
    assert status.state is PipelineState.SUCCEEDED and status.result == 111
    assert [(st.stage_id, st.state, st.attempts) for st in status.stages] == [
        ("h", StageState.SUCCEEDED, 1),
        ("a", StageState.SUCCEEDED, 1),
        ("b", StageState.SUCCEEDED, 1),
        ("c", StageState.SUCCEEDED, 1),
    ]
    events = [
        (e.type, e.payload.get("stage_id")) for e in await engine.get_history(status.pipeline_id)
    ]
    for sid in "habc":
        assert ("stage.scheduled", sid) in events and ("stage.succeeded", sid) in events
    types = await event_types(engine, created.pipeline_id)
    assert types.count("ACTIVITY_TASK_SCHEDULED") == 1  # only c; a and b are markers
    assert types.count("MARKER_RECORDED") == 3  # h, a, b: the patches of level 1 take none
    history = await engine.client.get_workflow_handle(created.pipeline_id).fetch_history()
    assert "TemporalChangeVersion" not in history.to_json()  # nor the SDK's upserts of them


async def test_local_step_retries_inside_the_workflow_and_counts_attempts(
    engine: TemporalPipelineEngine,
) -> None:
    config = {
        "name": "l",
        "definition": s("t_flaky", kwargs={"fail_times": 2}, local=True, retry=FAST_RETRY),
    }
    created = await engine.create_pipeline(config, start=True)
    status = await wait_for_state(engine, created.pipeline_id)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == "ok at attempt 3"
    assert status.stage("t_flaky").attempts == 3


async def test_failed_local_step_parks_and_retry_stage_reruns_it(
    engine: TemporalPipelineEngine,
) -> None:
    config = {
        "name": "l",
        "definition": {
            "type": "chain",
            "steps": [
                s("t_local_add", id="first"),
                s(
                    "t_flaky",
                    id="flaky",
                    kwargs={"fail_times": 2},
                    local=True,
                    retry={"max_attempts": 1},
                ),
            ],
        },
    }
    created = await engine.create_pipeline(config, start=True)
    pid = created.pipeline_id
    status = await wait_for_state(engine, pid, PipelineState.FAILED)
    assert status.stage("flaky").state is StageState.FAILED
    error = status.stage("flaky").error
    assert error is not None and error.type == "ValueError"
    await engine.retry_stage(pid, "flaky", "try again")
    status = await wait_for_state(engine, pid, PipelineState.FAILED, PipelineState.SUCCEEDED)
    assert status.state is PipelineState.FAILED and status.stage("flaky").attempts == 2
    await engine.retry_stage(pid, "flaky", "and again")
    status = await wait_for_state(engine, pid, PipelineState.SUCCEEDED)
    assert status.stage("flaky").attempts == 3
    assert status.stage("first").attempts == 1  # what succeeded never ran again
    types = [e.type for e in await engine.get_history(pid)]
    assert types.count("stage.retry_requested") == 2
