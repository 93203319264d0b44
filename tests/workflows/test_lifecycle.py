"""PENDING → start, human input, cancel (update and Temporal-native), retry_stage, idempotency."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from pipeline_engine.errors import (
    Conflict,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    PipelineNotFound,
    StageNotFound,
)
from pipeline_engine.states import PipelineState, StageState
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state, wait_until
from workflows.dev_server import TemporalDevServer, temporal_cli
from workflows.engine import TemporalPipelineEngine

APPROVAL = {
    "type": "input",
    "id": "approval",
    "prompt": "Approve the detections?",
    "schema": {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
        "required": ["approved"],
        "additionalProperties": False,
    },
}


def s(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **extra}


async def update_events(engine: TemporalPipelineEngine, pipeline_id: str) -> list[str]:
    handle = engine.client.get_workflow_handle(pipeline_id)
    history = await handle.fetch_history()
    return [
        e.WhichOneof("attributes")
        for e in history.events
        if "update" in (e.WhichOneof("attributes") or "")
    ]


async def test_created_pipeline_waits_in_pending_until_started(
    engine: TemporalPipelineEngine,
) -> None:
    created = await engine.create_pipeline(
        {"name": "p", "definition": s("t_add")}, tenant_id="acme"
    )
    await asyncio.sleep(0.5)
    status = await engine.get_pipeline(created.pipeline_id)
    assert status.state is PipelineState.PENDING
    assert status.stage("t_add").state is StageState.PENDING
    assert await engine.start_pipeline(created.pipeline_id) is PipelineState.RUNNING
    done = await wait_for_state(engine, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED
    # repeated start is idempotent
    assert await engine.start_pipeline(created.pipeline_id) is PipelineState.SUCCEEDED
    types = [e.type for e in await engine.get_history(created.pipeline_id)]
    assert types[:2] == ["pipeline.created", "pipeline.started"]
    assert types.count("pipeline.started") == 1


async def test_input_accepted_and_rejected(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline(
        {
            "name": "approve",
            # the last step keeps the run open for a while, so the repeated submission below
            # reaches a running pipeline however fast the server is
            "definition": {
                "type": "chain",
                "steps": [s("t_add"), APPROVAL, s("t_echo"), s("t_sleep", kwargs={"seconds": 2})],
            },
        },
        start=True,
    )
    pid = created.pipeline_id
    waiting = await wait_for_state(engine, pid, PipelineState.WAITING_INPUT)
    assert waiting.waiting_inputs[0].stage_id == "approval"
    assert waiting.waiting_inputs[0].prompt == "Approve the detections?"
    before = await update_events(engine, pid)

    with pytest.raises(InvalidInput) as bad:
        await engine.submit_input(pid, {"approved": "yes", "extra": 1}, "ana")
    paths = {p.path for p in bad.value.problems}
    assert "$.payload.approved" in paths and "$.payload" in paths
    with pytest.raises(StageNotFound):
        await engine.submit_input(pid, {"approved": True}, "ana", stage_id="nope")
    # rejected updates write nothing to the workflow history
    assert await update_events(engine, pid) == before
    assert (await engine.get_status(pid)) is PipelineState.WAITING_INPUT

    state = await engine.submit_input(pid, {"approved": True, "note": "ok"}, "ana")
    assert state is PipelineState.RUNNING
    # a repeat of the same submission returns the current state
    assert await engine.submit_input(pid, {"approved": True, "note": "ok"}, "ana") in (
        PipelineState.RUNNING,
        PipelineState.SUCCEEDED,
    )
    done = await wait_for_state(engine, pid)
    assert done.state is PipelineState.SUCCEEDED
    assert done.stage("t_echo").result["previous"] == {"approved": True, "note": "ok"}
    events = await engine.get_history(pid)
    received = [e for e in events if e.type == "pipeline.input_received"]
    # no caller named: the responder is the Temporal client's identity, "ana" a display name
    assert len(received) == 1 and received[0].payload["display_name"] == "ana"
    assert received[0].payload["responder"] == engine.client.identity
    with pytest.raises(InvalidState):
        await engine.submit_input(pid, {"approved": False}, "bob")


async def test_input_before_waiting_is_invalid_state(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline(
        {"name": "p", "definition": {"type": "chain", "steps": [APPROVAL]}}
    )
    with pytest.raises(InvalidState):
        await engine.submit_input(created.pipeline_id, {"approved": True}, "ana")
    await engine.cancel_pipeline(created.pipeline_id, "cleanup")


async def test_input_timeout_fails_the_stage(engine: TemporalPipelineEngine) -> None:
    element = {**APPROVAL, "timeout_s": 0.5, "on_failure": "continue"}
    created = await engine.create_pipeline(
        {"name": "p", "definition": {"type": "chain", "steps": [element, s("t_echo")]}}, start=True
    )
    done = await wait_for_state(engine, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED
    assert done.stage("approval").state is StageState.FAILED
    assert done.stage("approval").error.type == "InputTimeout"


async def test_cancel_update_stops_inflight_step_and_runs_on_cancel(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "c",
            "hooks": {"on_cancel": "t_hook"},
            "definition": {
                "type": "chain",
                "steps": [s("t_sleep", kwargs={"seconds": 30}), s("t_add")],
            },
        },
        start=True,
    )
    pid = created.pipeline_id
    await wait_until(lambda: _stage_running(engine, pid, "t_sleep"))
    assert await engine.cancel_pipeline(pid, "operator said so") is PipelineState.CANCELLED
    status = await engine.get_pipeline(pid)
    assert status.stage("t_sleep").state is StageState.CANCELLED
    assert status.stage("t_add").state is StageState.SKIPPED
    assert "hook.on_cancel" in {sid for sid, _, _ in calls_of(calls_dir, pid)}
    events = await engine.get_history(pid)
    requested = next(e for e in events if e.type == "pipeline.cancel_requested")
    assert requested.payload["reason"] == "operator said so"
    assert events[-1].type == "pipeline.cancelled"
    # repeated cancel returns the current state
    assert await engine.cancel_pipeline(pid, "again") is PipelineState.CANCELLED


async def test_temporal_native_cancel_ends_cancelled(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "c",
            "hooks": {"on_cancel": "t_hook"},
            "definition": s("t_sleep", kwargs={"seconds": 30}),
        },
        start=True,
    )
    pid = created.pipeline_id
    await wait_until(lambda: _stage_running(engine, pid, "t_sleep"))
    handle = engine.client.get_workflow_handle(pid)
    await handle.cancel()
    await wait_until(lambda: _closed(engine, pid))
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    status = await engine.get_pipeline(pid)
    assert status.state is PipelineState.CANCELLED
    assert status.stage("t_sleep").state is StageState.CANCELLED
    assert "hook.on_cancel" in {sid for sid, _, _ in calls_of(calls_dir, pid)}


async def test_cancel_pending_pipeline(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline({"name": "p", "definition": s("t_add")})
    assert (
        await engine.cancel_pipeline(created.pipeline_id, "never mind") is PipelineState.CANCELLED
    )
    with pytest.raises(InvalidState):
        await engine.retry_stage(created.pipeline_id, "t_add", "no")


async def test_retry_stage_reruns_only_the_failed_stage(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "r",
            "definition": {
                "type": "chain",
                "steps": [
                    s("t_add", kwargs={"n": 1}),
                    {
                        "type": "group",
                        "steps": [
                            s("t_add", kwargs={"n": 2}),
                            s("t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}),
                        ],
                    },
                    s("t_echo"),
                ],
            },
        },
        start=True,
    )
    pid = created.pipeline_id
    failed = await wait_for_state(engine, pid, PipelineState.FAILED)
    assert failed.stage("t_flaky").state is StageState.FAILED
    assert failed.stage("t_echo").state is StageState.PENDING
    with pytest.raises(InvalidState):
        await engine.retry_stage(pid, "t_add", "it succeeded already")
    with pytest.raises(StageNotFound):
        await engine.retry_stage(pid, "nope", "x")

    assert await engine.retry_stage(pid, "t_flaky", "fixed upstream") in (
        PipelineState.RUNNING,
        PipelineState.SUCCEEDED,
    )
    # a repeated retry returns the current state instead of failing
    await engine.retry_stage(pid, "t_flaky", "fixed upstream")
    done = await wait_for_state(engine, pid)
    assert done.state is PipelineState.SUCCEEDED
    assert done.stage("t_flaky").attempts == 2
    assert done.result["previous"] == [3, "ok at attempt 2"]
    runs: dict[str, int] = {}
    for sid, _, _ in calls_of(calls_dir, pid):
        runs[sid] = runs.get(sid, 0) + 1
    assert runs == {"t_add": 1, "t_add-2": 1, "t_flaky": 2, "t_echo": 1}
    types = [e.type for e in await engine.get_history(pid)]
    assert "stage.retry_requested" in types and "pipeline.resumed" in types


async def test_retry_stage_through_the_temporal_cli(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer, calls_dir: Path
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "cli",
            "definition": {
                "type": "chain",
                "steps": [
                    s("t_add"),
                    s("t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}),
                ],
            },
        },
        start=True,
    )
    pid = created.pipeline_id
    await wait_for_state(engine, pid, PipelineState.FAILED)
    out = await asyncio.to_thread(
        subprocess.run,
        [
            temporal_cli(),
            "workflow",
            "update",
            "execute",
            "--address",
            temporal_server.address,
            "-w",
            pid,
            "--name",
            "retry_stage",
            "--input",
            '{"stage_id":"t_flaky","reason":"from the CLI"}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "RUNNING" in out.stdout
    done = await wait_for_state(engine, pid)
    assert done.state is PipelineState.SUCCEEDED
    assert [sid for sid, _, _ in calls_of(calls_dir, pid)].count("t_add") == 1
    events = await engine.get_history(pid)
    assert any(
        e.type == "stage.retry_requested" and e.payload["reason"] == "from the CLI" for e in events
    )


async def test_search_attributes_visible_to_the_temporal_cli(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    tenant = f"tenant-{engine._task_queue}"
    created = await engine.create_pipeline(
        {"name": "visible", "definition": s("t_add")}, tenant_id=tenant, start=True
    )
    await wait_for_state(engine, created.pipeline_id)

    async def listed() -> bool:
        out = await asyncio.to_thread(
            subprocess.run,
            [
                temporal_cli(),
                "workflow",
                "list",
                "--address",
                temporal_server.address,
                "-o",
                "json",
                "--query",
                f"TenantId='{tenant}' AND PipelineState='SUCCEEDED' AND PipelineName='visible'",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout or "[]")
        return any(r.get("execution", {}).get("workflowId") == created.pipeline_id for r in rows)

    await wait_until(listed, timeout=30, interval=0.5)
    page = await engine.list_pipelines(tenant_ids=[tenant])
    assert [p.pipeline_id for p in page.items] == [created.pipeline_id]
    assert page.items[0].state == "SUCCEEDED" and page.items[0].name == "visible"


async def test_create_is_idempotent(engine: TemporalPipelineEngine) -> None:
    config = {"name": "idem", "definition": s("t_add")}
    a = await engine.create_pipeline(config, tenant_id="acme", input={"k": 1})
    b = await engine.create_pipeline(config, tenant_id="acme", input={"k": 1})
    assert a.pipeline_id == b.pipeline_id and a.created and not b.created
    other = await engine.create_pipeline(config, tenant_id="acme", input={"k": 2})
    assert other.pipeline_id != a.pipeline_id
    k1 = await engine.create_pipeline(config, tenant_id="acme", idempotency_key="order-7")
    k2 = await engine.create_pipeline(config, tenant_id="acme", idempotency_key="order-7")
    assert k1.pipeline_id == k2.pipeline_id
    with pytest.raises(Conflict):
        await engine.create_pipeline(
            config, tenant_id="acme", idempotency_key="order-7", input={"other": True}
        )
    for pid in {a.pipeline_id, other.pipeline_id, k1.pipeline_id}:
        await engine.cancel_pipeline(pid, "cleanup")


async def test_unknown_pipeline_and_invalid_config(engine: TemporalPipelineEngine) -> None:
    with pytest.raises(PipelineNotFound):
        await engine.get_pipeline("pl-does-not-exist")
    with pytest.raises(PipelineNotFound):
        await engine.cancel_pipeline("pl-does-not-exist", "x")
    with pytest.raises(InvalidConfig) as err:
        await engine.create_pipeline(
            {"name": "bad", "definition": {"type": "chain", "steps": [s("nope")]}}
        )
    assert err.value.problems[0].path == "$.definition.steps[0].name"


async def test_history_since_filter(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline(
        {"name": "h", "definition": {"type": "chain", "steps": [s("t_add"), s("t_add")]}},
        start=True,
    )
    await wait_for_state(engine, created.pipeline_id)
    events = await engine.get_history(created.pipeline_id)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert all(e.trace_id == events[0].trace_id and e.version == 1 for e in events)
    middle = events[len(events) // 2]
    since = await engine.get_history(created.pipeline_id, since=middle.timestamp)
    assert since and all(e.timestamp >= middle.timestamp for e in since)
    assert since[-1].id == events[-1].id
    after = await engine.get_history(created.pipeline_id, after_id=3)
    assert [e.id for e in after] == [e.id for e in events[3:]]


async def _stage_running(engine: TemporalPipelineEngine, pid: str, stage_id: str) -> bool:
    return (await engine.get_pipeline(pid)).stage(stage_id).state is StageState.RUNNING


async def _closed(engine: TemporalPipelineEngine, pid: str) -> bool:
    return await engine.is_closed(pid)


async def test_start_and_cancel_through_the_temporal_cli_without_input(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    created = await engine.create_pipeline(
        {"name": "cli-start", "definition": s("t_sleep", kwargs={"seconds": 30})}
    )
    pid = created.pipeline_id

    async def update(name: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [
                temporal_cli(),
                "workflow",
                "update",
                "execute",
                "--address",
                temporal_server.address,
                "-w",
                pid,
                "--name",
                name,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = await update("start")
    assert started.returncode == 0 and "RUNNING" in started.stdout, started.stderr
    await wait_until(lambda: _stage_running(engine, pid, "t_sleep"))
    cancelled = await update("cancel")
    assert cancelled.returncode == 0 and "CANCELLED" in cancelled.stdout, cancelled.stderr
    assert (await engine.get_pipeline(pid)).state is PipelineState.CANCELLED
