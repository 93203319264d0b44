"""Every update also exists as a signal (docs/operations.md), driven here through the real
``temporal`` CLI: one pipeline at a time (``workflow signal -w``) and in a batch by visibility
query."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from pipeline_engine.states import PipelineState, StageState
from tests.support.waiting import wait_for_state, wait_until
from tests.workflows.test_replay import replayer
from workflows.dev_server import TemporalDevServer, temporal_cli
from workflows.engine import TemporalPipelineEngine

APPROVAL = {
    "type": "input",
    "id": "approval",
    "schema": {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"],
    },
}
FLAKY = {
    "type": "step",
    "name": "t_flaky",
    "kwargs": {"fail_times": 1},
    "retry": {"max_attempts": 1},
}


async def temporal(server: TemporalDevServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``temporal`` CLI against the test server."""
    return await asyncio.to_thread(
        subprocess.run,
        [temporal_cli(), *args, "--address", server.address],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def signal(
    server: TemporalDevServer, pipeline_id: str, name: str, payload: Any = None
) -> None:
    args = ["workflow", "signal", "-w", pipeline_id, "--name", name]
    if payload is not None:
        args += ["--input", json.dumps(payload)]
    out = await temporal(server, *args)
    assert out.returncode == 0, out.stderr


async def rejections(engine: TemporalPipelineEngine, pid: str) -> list[dict[str, Any]]:
    return [e.payload for e in await engine.get_history(pid) if e.type == "signal.rejected"]


async def test_start_input_and_duplicates_by_signal(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    created = await engine.create_pipeline(
        {"name": "sig-input", "definition": {"type": "chain", "steps": [APPROVAL]}}
    )
    pid = created.pipeline_id
    await signal(temporal_server, pid, "start")
    await wait_for_state(engine, pid, PipelineState.WAITING_INPUT)
    await signal(temporal_server, pid, "start")  # a duplicate changes nothing

    # a payload the schema refuses is recorded as a rejection and changes nothing
    await signal(
        temporal_server, pid, "submit_input", {"payload": {"approved": "yes"}, "responder": "ana"}
    )

    async def rejected() -> bool:
        return bool(await rejections(engine, pid))

    await wait_until(rejected)
    [refused] = await rejections(engine, pid)
    assert refused["signal"] == "submit_input" and refused["error"] == "invalid_input"
    assert "schema" in refused["reason"]
    assert (await engine.get_pipeline(pid)).state is PipelineState.WAITING_INPUT

    good = {"payload": {"approved": True}, "responder": "ana"}
    await signal(temporal_server, pid, "submit_input", good)
    done = await wait_for_state(engine, pid)
    assert done.state is PipelineState.SUCCEEDED and done.result == {"approved": True}
    events = await engine.get_history(pid)
    types = [e.type for e in events]
    assert types.count("pipeline.started") == 1 and types.count("pipeline.input_received") == 1
    # through Temporal there is no token: the actor is "temporal-cli", the name given a display
    [received] = [e.payload for e in events if e.type == "pipeline.input_received"]
    assert received["responder"] == "temporal-cli" and received["display_name"] == "ana"
    assert done.stage("approval").actor == "temporal-cli"
    # this fresh history, with signals, rejections and actors, replays
    history = await engine.client.get_workflow_handle(pid).fetch_history()
    await replayer().replay_workflow(history)


async def test_malformed_and_refused_signals_are_recorded(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    created = await engine.create_pipeline(
        {"name": "sig-bad", "definition": {"type": "chain", "steps": [FLAKY]}}, start=True
    )
    pid = created.pipeline_id
    await wait_for_state(engine, pid, PipelineState.FAILED)
    await signal(temporal_server, pid, "retry_stage", {"reason": "no stage named"})
    await signal(temporal_server, pid, "retry_stage", {"stage_id": "nope"})
    await signal(temporal_server, pid, "submit_input", {"payload": 1, "responder": "ana"})

    async def three() -> bool:
        return len(await rejections(engine, pid)) == 3

    await wait_until(three)
    missing, unknown, no_input = await rejections(engine, pid)
    assert missing["error"] == "invalid_input" and "retry_stage" in missing["reason"]
    assert unknown["error"] == "stage_not_found" and "'nope'" in unknown["reason"]
    assert no_input["error"] == "invalid_state" and "no input is waiting" in no_input["reason"]
    status = await engine.get_pipeline(pid)
    assert status.state is PipelineState.FAILED
    assert status.stage("t_flaky").state is StageState.FAILED
    # held in FAILED: the status already says which stage failed, why, and until when to retry
    assert status.error is not None and status.error.stage_id == "t_flaky"
    assert "failed on purpose" in status.error.message
    assert status.retryable_until is not None


async def test_cancel_by_signal(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "sig-cancel",
            "definition": {"type": "step", "name": "t_sleep", "kwargs": {"seconds": 30}},
        },
        start=True,
    )
    pid = created.pipeline_id
    await wait_for_state(engine, pid, PipelineState.RUNNING)
    await signal(temporal_server, pid, "cancel", {"reason": "wrong batch"})
    done = await wait_for_state(engine, pid)
    assert done.state is PipelineState.CANCELLED
    events = await engine.get_history(pid)
    assert [e.payload for e in events if e.type == "pipeline.cancel_requested"] == [
        {"reason": "wrong batch", "actor": "temporal-cli"}
    ]
    assert done.cancelled_by == "temporal-cli"


async def test_batch_retry_by_query_resumes_every_failed_pipeline_of_a_tenant(
    engine: TemporalPipelineEngine, temporal_server: TemporalDevServer
) -> None:
    tenant = f"batch-{engine._task_queue}"
    config = {"name": "sig-batch", "definition": {"type": "chain", "steps": [FLAKY]}}
    pids = [
        (
            await engine.create_pipeline(config, tenant_id=tenant, input={"n": n}, start=True)
        ).pipeline_id
        for n in range(3)
    ]
    other = await engine.create_pipeline(config, tenant_id=f"{tenant}-other", start=True)
    for pid in [*pids, other.pipeline_id]:
        await wait_for_state(engine, pid, PipelineState.FAILED)
    query = f"TenantId='{tenant}' AND PipelineState='FAILED'"

    async def all_listed() -> bool:
        page = await engine.list_pipelines(tenant_ids=[tenant], state=PipelineState.FAILED)
        return len(page.items) == len(pids)

    await wait_until(all_listed, timeout=30, interval=0.5)
    out = await temporal(
        temporal_server,
        "workflow", "signal", "--query", query, "--name", "retry_stage",
        "--input", '{"stage_id": "t_flaky", "reason": "upstream fixed"}',
        "--reason", "retry tenant after the fix", "--yes",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for pid in pids:
        done = await wait_for_state(engine, pid, PipelineState.SUCCEEDED, timeout=60)
        assert done.stage("t_flaky").attempts == 2
    assert (await engine.get_pipeline(other.pipeline_id)).state is PipelineState.FAILED
