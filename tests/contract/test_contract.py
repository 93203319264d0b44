"""The SDK's contract, run unchanged against the fake engine and the live stack.

Every test talks to ``backend.engine`` through the public client methods only; any divergence
between the in-memory fake and the real REST API + Temporal fails here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pipeline_engine import (
    Conflict,
    Event,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    PipelineNotFound,
    PipelineState,
    RetryPolicy,
    StageNotFound,
    StageState,
    TenantNotFound,
    chain,
    chord,
    dag,
    group,
    human_input,
    pipeline,
    stage,
    step,
)
from pipeline_engine._ids import DEV_IDS, IdRule, legacy_pipeline_id_for, pipeline_id_for
from pipeline_engine.dsl import parse_config
from tests.contract.conftest import AsyncEngine, Backend
from tests.support import live_stack

pytestmark = pytest.mark.timeout(60)

ONCE = RetryPolicy(max_attempts=1)
WAIT = 30.0


async def until_event(
    engine: AsyncEngine, pid: str, predicate: Callable[[Event], bool], timeout: float = WAIT
) -> Event:
    """The first event (past or future) matching ``predicate``."""

    async def find() -> Event:
        async for event in engine.stream_events(pid):
            if predicate(event):
                return event
        raise AssertionError("stream ended without the expected event")

    return await asyncio.wait_for(find(), timeout)


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


# ---------------------------------------------------------------------- data flow
async def test_chain_group_chord_data_flow(backend: Backend) -> None:
    config = pipeline(
        "flow",
        chain(
            step("t_add", n=2),
            chord(group(step("t_add"), step("t_add", n=10)), "t_sum"),
            step("t_echo", tag="end"),
        ),
    )
    engine = backend.engine
    pid = await engine.create_pipeline(config, input={"image": "x"})
    assert await engine.get_status(pid) is PipelineState.PENDING
    assert await engine.start_pipeline(pid) in (PipelineState.RUNNING, PipelineState.SUCCEEDED)
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    assert [s.stage_id for s in status.stages] == ["t_add", "t_add-2", "t_add-3", "t_sum", "t_echo"]
    assert [s.stage_id for s in status.stages if s.state is StageState.SUCCEEDED] == [
        s.stage_id for s in status.stages
    ]
    assert status.stage("t_sum").result == 15  # (2+1) + (2+10)
    result = status.result
    assert result["previous"] == 15 and result["input"] == {"image": "x"}
    assert result["tag"] == "end" and result["tenant_id"] == backend.tenant_id
    assert result["pipeline_id"] == pid and result["attempt"] == 1
    assert all(s.attempts == 1 for s in status.stages)


async def test_dag_data_flow(backend: Backend) -> None:
    config = dag(
        "diamond",
        stage("fetch", "t_add", n=1),
        stage("left", "t_echo", tag="l", depends_on=["fetch"]),
        stage("right", "t_add", n=5, depends_on=["fetch"]),
    )
    engine = backend.engine
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result["left"]["previous"] == {"fetch": 1}
    assert status.result["right"] == 5  # previous is a dict, so t_add starts from 0


async def test_chord_on_error_continue_marks_failures(backend: Backend) -> None:
    config = pipeline(
        "partial",
        chord(
            group(step("t_add"), step("t_fail", retry=ONCE, message="broken member")),
            "c_failures",
            on_error="continue",
        ),
    )
    engine = backend.engine
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == {"failed": ["t_fail"], "ok": [1]}
    failed = status.stage("t_fail")
    assert failed.state is StageState.FAILED and failed.error is not None
    assert (failed.error.type, failed.error.message) == ("RuntimeError", "broken member")


# ---------------------------------------------------------------------- input
async def test_input_rejected_with_schema_problems_then_accepted(backend: Backend) -> None:
    schema = {
        "type": "object",
        "required": ["approved"],
        "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
    }
    config = pipeline(
        "approval",
        chain(
            step("t_add"),
            human_input("review", schema, prompt="Approve?"),
            human_input("final", {"type": "object"}),
            step("t_echo"),
        ),
    )
    engine = backend.engine
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    status = await engine.wait_for(pid, PipelineState.WAITING_INPUT, timeout=WAIT)
    [waiting] = status.waiting_inputs
    assert (waiting.stage_id, waiting.prompt, waiting.schema_) == ("review", "Approve?", schema)
    assert status.stage("review").state is StageState.WAITING_INPUT

    with pytest.raises(InvalidInput) as info:
        await engine.submit_input(pid, {"approved": "yes", "note": 3}, "ana")
    assert sorted((p.path, p.message) for p in info.value.problems) == [
        ("$.payload.approved", "'yes' is not of type 'boolean'"),
        ("$.payload.note", "3 is not of type 'string'"),
    ]
    with pytest.raises(StageNotFound):
        await engine.submit_input(pid, {"approved": True}, "ana", stage_id="nope")
    assert await engine.get_status(pid) is PipelineState.WAITING_INPUT

    payload = {"approved": True, "note": "fine"}
    assert await engine.submit_input(pid, payload, "ana") is PipelineState.RUNNING
    status = await engine.wait_for(pid, PipelineState.WAITING_INPUT, timeout=WAIT)
    assert [w.stage_id for w in status.waiting_inputs] == ["final"]
    # A repeat of an input already applied changes nothing and answers the current state.
    again = await engine.submit_input(pid, payload, "ana", stage_id="review")
    assert again is PipelineState.WAITING_INPUT
    await engine.submit_input(pid, {"done": 1}, "bob", stage_id="final")
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result["previous"] == {"done": 1}
    assert status.stage("review").result == payload
    received = [e for e in await engine.get_history(pid) if e.type == "pipeline.input_received"]
    # the responder is the caller (its token's subject); the name given only adds a display name
    assert [(e.payload["stage_id"], e.payload["display_name"]) for e in received] == [
        ("review", "ana"),
        ("final", "bob"),
    ]
    caller = received[0].payload["responder"]
    assert caller not in ("ana", "bob") and received[1].payload["responder"] == caller
    assert status.stage("review").actor == caller
    with pytest.raises(InvalidState):
        await engine.submit_input(pid, {"approved": False}, "bob")


# ---------------------------------------------------------------------- cancel
async def test_cancel_a_running_pipeline(backend: Backend) -> None:
    config = pipeline("slow", chain(step("t_sleep", seconds=30), step("t_add")))
    engine = backend.engine
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    await until_event(engine, pid, lambda e: e.type == "stage.scheduled")
    assert await engine.cancel_pipeline(pid, "no longer needed") is PipelineState.CANCELLED
    assert await engine.cancel_pipeline(pid, "again") is PipelineState.CANCELLED
    assert await engine.start_pipeline(pid) is PipelineState.CANCELLED
    status = await engine.get_pipeline(pid)
    assert status.state is PipelineState.CANCELLED
    assert [(s.stage_id, s.state) for s in status.stages] == [
        ("t_sleep", StageState.CANCELLED),
        ("t_add", StageState.SKIPPED),
    ]
    events = await engine.get_history(pid)
    requested = [e for e in events if e.type == "pipeline.cancel_requested"]
    assert [e.payload["reason"] for e in requested] == ["no longer needed"]
    assert events[-1].type == "pipeline.cancelled"
    with pytest.raises(InvalidState):
        await engine.retry_stage(pid, "t_sleep", "too late")


async def test_cancel_pending_and_cancel_after_success(backend: Backend) -> None:
    engine = backend.engine
    pending = await engine.create_pipeline(pipeline("p", step("t_add")))
    assert await engine.cancel_pipeline(pending, "never mind") is PipelineState.CANCELLED
    assert (await engine.get_pipeline(pending)).stages[0].state is StageState.SKIPPED

    done = await engine.create_pipeline(pipeline("q", step("t_add")))
    await engine.start_pipeline(done)
    assert (await engine.wait_for(done, timeout=WAIT)).state is PipelineState.SUCCEEDED
    with pytest.raises(InvalidState):
        await engine.cancel_pipeline(done, "too late")


# ---------------------------------------------------------------------- failure & retry
async def test_retry_stage_after_failure_does_not_rerun_earlier_stages(backend: Backend) -> None:
    config = pipeline(
        "flaky",
        chain(step("t_add", n=1), step("t_flaky", fail_times=1, retry=ONCE), step("t_add", n=5)),
    )
    engine = backend.engine
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    status = await engine.wait_for(pid, PipelineState.FAILED, timeout=WAIT)
    failed = status.stage("t_flaky")
    assert failed.state is StageState.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.type == "ValueError"
    assert status.stage("t_add-2").state is StageState.PENDING
    assert status.retryable_until is not None

    with pytest.raises(StageNotFound):
        await engine.retry_stage(pid, "no-such-stage", "typo")
    with pytest.raises(InvalidState):
        await engine.retry_stage(pid, "t_add", "did not fail")

    assert await engine.retry_stage(pid, "t_flaky", "transient") is PipelineState.RUNNING
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == 5  # t_flaky returns a string, so the last t_add starts from 0
    assert [(s.stage_id, s.attempts) for s in status.stages] == [
        ("t_add", 1),  # not re-run
        ("t_flaky", 2),
        ("t_add-2", 1),
    ]
    events = await engine.get_history(pid)
    kinds = types(events)
    assert kinds.index("pipeline.failed") < kinds.index("stage.retry_requested")
    assert kinds.index("stage.retry_requested") < kinds.index("pipeline.resumed")
    retry = next(e for e in events if e.type == "stage.retry_requested")
    assert (retry.payload["stage_id"], retry.payload["reason"]) == ("t_flaky", "transient")


# ---------------------------------------------------------------------- idempotency
async def test_create_is_idempotent_and_a_reused_key_conflicts(backend: Backend) -> None:
    engine = backend.engine
    config = pipeline("idem", step("t_add"))
    pid = await engine.create_pipeline(config, input={"n": 1})
    assert await engine.create_pipeline(config.model_dump(by_alias=True), input={"n": 1}) == pid
    parsed = parse_config(config).config
    # keyed by the server's id secret (the fake's: the dev one), never the plain hash of old
    rule = DEV_IDS if backend.name == "fake" else IdRule.of(live_stack.ID_SECRET)
    same = {"tenant_id": backend.tenant_id, "config": parsed, "input": {"n": 1}}
    assert pid == pipeline_id_for(**same, idempotency_key=None, ids=rule)
    assert pid != legacy_pipeline_id_for(**same, idempotency_key=None, ids=rule)
    await engine.start_pipeline(pid)
    assert await engine.create_pipeline(config, input={"n": 1}) == pid
    assert await engine.start_pipeline(pid) in (PipelineState.RUNNING, PipelineState.SUCCEEDED)
    await engine.wait_for(pid, timeout=WAIT)
    assert types(await engine.get_history(pid)).count("pipeline.started") == 1

    keyed = await engine.create_pipeline(config, input={"n": 1}, idempotency_key="order-42")
    assert keyed != pid
    assert await engine.create_pipeline(config, input={"n": 1}, idempotency_key="order-42") == keyed
    with pytest.raises(Conflict):
        await engine.create_pipeline(config, input={"n": 2}, idempotency_key="order-42")


async def test_invalid_config_lists_the_problems(backend: Backend) -> None:
    bad = {
        "name": "bad",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "no_such_step"},
                {"type": "step", "name": "t_add", "kwargs": {"n": "x"}},
            ],
        },
    }
    with pytest.raises(InvalidConfig) as info:
        await backend.engine.create_pipeline(bad)
    problems = {(p.path, p.message) for p in info.value.problems}
    assert ("$.config.definition.steps[0].name", "unknown step 'no_such_step'") in problems
    assert any(p.startswith("$.config.definition.steps[1].kwargs.n") for p, _ in problems)
    assert "no_such_step" in info.value.message


# ---------------------------------------------------------------------- events
async def test_events_are_ordered_with_ids_and_streamed_once(backend: Backend) -> None:
    engine = backend.engine
    pid = await engine.create_pipeline(pipeline("events", chain(step("t_add"), step("t_add", n=2))))
    delivered: list[Event] = []
    subscription = await engine.subscribe_events(pid, delivered.append)
    await engine.start_pipeline(pid)
    await subscription.wait(timeout=WAIT)
    history = await engine.get_history(pid)
    assert types(history) == [
        "pipeline.created",
        "pipeline.started",
        "stage.scheduled",
        "stage.succeeded",
        "stage.scheduled",
        "stage.succeeded",
        "pipeline.succeeded",
    ]
    assert [e.id for e in history] == list(range(1, len(history) + 1))
    assert [(e.id, e.type) for e in delivered] == [(e.id, e.type) for e in history]
    assert len({e.trace_id for e in history}) == 1 and all(e.version == 1 for e in history)
    assert [e.payload.get("stage_id") for e in history[2:6]] == [
        "t_add",
        "t_add",
        "t_add-2",
        "t_add-2",
    ]
    assert [e.id for e in await engine.get_history(pid, after_id=5)] == [6, 7]
    since = await engine.get_history(pid, history[3].timestamp)
    assert 4 in [e.id for e in since] and since[-1].id == 7
    assert all(e.timestamp >= history[3].timestamp for e in since)
    resumed = [e.id async for e in engine.stream_events(pid, after_id=4)]
    assert resumed == [5, 6, 7]
    points = [p async for p in engine.watch_metrics(pid)]
    assert any(p.name == "progress" and p.value == 1.0 for p in points)


def test_sync_interface_subscription_off_the_callers_thread(backend: Backend) -> None:
    with backend.sync_engine() as engine:
        pid = engine.create_pipeline(pipeline("sync", step("t_add", n=3)))
        seen: list[tuple[int, threading.Thread]] = []
        sub = engine.subscribe_events(
            pid, lambda e: seen.append((e.id, threading.current_thread()))
        )
        engine.start_pipeline(pid)
        status = engine.wait_for(pid, timeout=WAIT)
        sub.wait(timeout=WAIT)
        assert status.result == 3
        assert [i for i, _ in seen] == [e.id for e in engine.get_history(pid)]
        assert all(t is not threading.current_thread() for _, t in seen)


# ---------------------------------------------------------------------- not found
async def test_unknown_pipeline_is_not_found(backend: Backend) -> None:
    engine = backend.engine
    missing = "pl-000000000000000000000000"
    calls: list[Callable[[], Any]] = [
        lambda: engine.get_status(missing),
        lambda: engine.get_pipeline(missing),
        lambda: engine.get_history(missing),
        lambda: engine.start_pipeline(missing),
        lambda: engine.cancel_pipeline(missing, "x"),
        lambda: engine.retry_stage(missing, "a", "x"),
        lambda: engine.submit_input(missing, {}, "ana"),
        lambda: engine.subscribe_events(missing, print),
    ]
    for call in calls:
        with pytest.raises(PipelineNotFound):
            await call()


# ---------------------------------------------------------------------- tenants & process
async def test_tenant_config_and_process(backend: Backend) -> None:
    engine, tenant = backend.engine, backend.tenant_id
    with pytest.raises(TenantNotFound):
        await engine.get_tenant_config(tenant)
    with pytest.raises(InvalidConfig) as info:
        await engine.put_tenant_config(
            tenant, {"pipeline_definition": {"type": "step", "name": "no_such_step"}}
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("$.pipeline_definition.name", "unknown step 'no_such_step'")
    ]
    document = {
        "pipeline_definition": {"type": "chain", "steps": [{"type": "step", "name": "t_echo"}]},
        "settings": {"species": ["tomate"]},
    }
    stored = await engine.put_tenant_config(tenant, document)
    assert stored["version"] == 1 and stored["settings"] == {"species": ["tomate"]}
    assert (await engine.get_tenant_config(tenant))["pipeline_definition"] == document[
        "pipeline_definition"
    ]
    with pytest.raises(Conflict):
        await engine.put_tenant_config(tenant, {**document, "version": 7})

    pid = await engine.process(tenant, {"image": "a.png"}, idempotency_key="job-1")
    assert await engine.process(tenant, {"image": "a.png"}, idempotency_key="job-1") == pid
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED and status.name == tenant
    assert status.result["settings"] == {"species": ["tomate"]}
    assert status.result["input"] == {"image": "a.png"}

    await engine.delete_tenant_config(tenant)
    with pytest.raises(TenantNotFound):
        await engine.process(tenant, {})


# ---------------------------------------------------------------------- large results
async def test_large_results_are_read_by_reference(backend: Backend) -> None:
    engine = backend.engine
    config = pipeline("big", chain(step("t_blob", size=200_000), step("t_measure")))
    pid = await engine.create_pipeline(config)
    await engine.start_pipeline(pid)
    status = await engine.wait_for(pid, timeout=WAIT)
    assert status.state is PipelineState.SUCCEEDED
    ref = status.stage("t_blob").result
    assert set(ref) == {"$ref", "size_bytes"} and ref["size_bytes"] > 200_000
    blob = await engine.get_result(pid, stage_id="t_blob")
    assert blob["size"] == 200_000 and len(blob["blob"]) == 200_000
    assert status.result["previous_size"] == 200_000  # small: inline
    assert await engine.get_result(pid) == status.result
    with pytest.raises(StageNotFound):
        await engine.get_result(pid, stage_id="nope")
