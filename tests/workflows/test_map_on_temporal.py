"""The ``map`` element on a real Temporal server: data flow, ids, one failed item retried alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_engine.states import PipelineState, StageState
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine


def doubling(count: int, **step: Any) -> dict[str, Any]:
    return {
        "name": "map",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "t_items", "kwargs": {"count": count}},
                {
                    "type": "map",
                    "id": "twice",
                    "items": "/items",
                    "max_concurrency": 7,
                    "element": {"type": "step", "name": "t_double", **step},
                },
            ],
        },
    }


async def test_map_of_30_in_order_with_stage_ids(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    created = await engine.create_pipeline(doubling(30), start=True)
    status = await wait_for_state(engine, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [2 * i for i in range(30)]
    assert status.stage("twice").result == status.result
    assert status.stage("t_double[29]").result == 58
    assert status.stage_counts == {"SUCCEEDED": 32}
    ran = sorted(sid for sid, _, _ in calls_of(calls_dir, created.pipeline_id))
    assert ran == sorted(f"t_double[{i}]" for i in range(30))
    history = await engine.client.get_workflow_handle(created.pipeline_id).fetch_history()
    activity_ids = {
        e.activity_task_scheduled_event_attributes.activity_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert {f"t_double[{i}]" for i in range(30)} <= activity_ids


async def test_failed_item_is_retried_alone(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    config = doubling(6, kwargs={"fail_on": 4}, retry={"max_attempts": 1})
    created = await engine.create_pipeline(config, start=True)
    pid = created.pipeline_id
    failed = await wait_for_state(engine, pid, PipelineState.FAILED, timeout=120)
    assert failed.stage("t_double[4]").state is StageState.FAILED
    others = [f"t_double[{i}]" for i in range(6) if i != 4]
    assert all(failed.stage(sid).state is StageState.SUCCEEDED for sid in others)
    (calls_dir / f"{pid}.fixed").touch()
    await engine.retry_stage(pid, "t_double[4]", "bad item fixed")
    status = await wait_for_state(engine, pid, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [0, 2, 4, 6, 8, 10]
    runs = [sid for sid, _, _ in calls_of(calls_dir, pid)]
    assert runs.count("t_double[4]") == 2
    assert all(runs.count(sid) == 1 for sid in others)
    events = await engine.get_history(pid)
    retried = [e.payload["stage_id"] for e in events if e.type == "stage.retry_requested"]
    assert retried == ["t_double[4]"]


async def test_items_pointer_that_does_not_resolve_fails_clearly(
    engine: TemporalPipelineEngine,
) -> None:
    config = doubling(3)
    config["definition"]["steps"][1]["items"] = "/nope"
    config["failure_hold_s"] = 0
    created = await engine.create_pipeline(config, start=True)
    status = await wait_for_state(engine, created.pipeline_id, timeout=60)
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.type == "InvalidItems"
    assert "'/nope'" in status.error.message
