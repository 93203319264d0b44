"""The fake engine's own controls: failing, holding and recording step attempts; its sync twin."""

from __future__ import annotations

import threading

import pytest

import tests.support.steps  # noqa: F401  (registers the t_* steps)
from pipeline_engine import (
    Conflict,
    Event,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    PipelineConfig,
    PipelineNotFound,
    PipelineState,
    RetryPolicy,
    StageState,
    TenantNotFound,
    TimeoutError,
    chain,
    chord,
    group,
    pipeline,
    step,
)
from pipeline_engine.testing import AsyncFakePipelineEngine, FakePipelineEngine


def three_adds(name: str = "adds") -> PipelineConfig:
    return pipeline(name, chain(step("t_add", n=1), step("t_add", n=10), step("t_add", n=100)))


async def test_fail_step_times_then_retries_succeed() -> None:
    async with AsyncFakePipelineEngine() as engine:
        engine.fail_step("t_add-2", times=2, error=ValueError("boom"))
        pid = await engine.create_pipeline(three_adds())
        await engine.start_pipeline(pid)
        status = await engine.wait_for(pid, timeout=5)
    assert status.state is PipelineState.SUCCEEDED and status.result == 111
    assert status.stage("t_add-2").attempts == 3  # default policy: 3 attempts
    attempts = [(c.stage_id, c.attempt) for c in engine.calls]
    assert attempts == [
        ("t_add", 1),
        ("t_add-2", 1),
        ("t_add-2", 2),
        ("t_add-2", 3),
        ("t_add-3", 1),
    ]
    assert [c.previous for c in engine.calls_of("t_add-3")] == [11]


async def test_fail_step_for_good_parks_in_failed_with_the_error() -> None:
    config = pipeline(
        "p",
        chain(step("t_add"), step("t_echo", retry=RetryPolicy(max_attempts=1))),
    )
    async with AsyncFakePipelineEngine() as engine:
        engine.fail_step("t_echo", times=None, error=KeyError)
        pid = await engine.create_pipeline(config)
        await engine.start_pipeline(pid)
        status = await engine.wait_for(pid, PipelineState.FAILED, timeout=5)
        stage = status.stage("t_echo")
        assert stage.state is StageState.FAILED and stage.error is not None
        assert stage.error.type == "KeyError"
        engine.clear_controls()
        assert await engine.retry_stage(pid, "t_echo", "fixed") is PipelineState.RUNNING
        status = await engine.wait_for(pid, timeout=5)
    assert status.state is PipelineState.SUCCEEDED
    assert status.stage("t_add").attempts == 1 and status.stage("t_echo").attempts == 2


async def test_hold_step_until_released() -> None:
    async with AsyncFakePipelineEngine() as engine:
        hold = engine.hold_step("t_sum")
        config = pipeline("c", chord(group(step("t_add"), step("t_add", n=2)), "t_sum"))
        pid = await engine.create_pipeline(config)
        await engine.start_pipeline(pid)
        await hold.reached(timeout=5)
        status = await engine.get_pipeline(pid)
        assert status.state is PipelineState.RUNNING
        assert status.stage("t_sum").state is StageState.RUNNING
        assert [s.state for s in status.stages[:2]] == [StageState.SUCCEEDED] * 2
        assert hold.held == 1
        hold.release()
        status = await engine.wait_for(pid, timeout=5)
    assert status.result == 3


async def test_cancel_a_held_step_and_errors() -> None:
    async with AsyncFakePipelineEngine() as engine:
        hold = engine.hold_step("t_add-2")
        pid = await engine.create_pipeline(three_adds())
        await engine.start_pipeline(pid)
        await hold.reached(timeout=5)
        assert await engine.cancel_pipeline(pid, "no longer needed") is PipelineState.CANCELLED
        assert await engine.cancel_pipeline(pid, "again") is PipelineState.CANCELLED
        status = await engine.get_pipeline(pid)
        assert [s.state for s in status.stages] == [
            StageState.SUCCEEDED,
            StageState.CANCELLED,
            StageState.SKIPPED,
        ]
        with pytest.raises(InvalidState):
            await engine.retry_stage(pid, "t_add-2", "too late")
        with pytest.raises(PipelineNotFound):
            await engine.get_status("pl-nope")
        with pytest.raises(TimeoutError):
            other = await engine.create_pipeline(three_adds("other"))
            await engine.wait_for(other, timeout=0.05)


async def test_idempotency_and_conflict() -> None:
    async with AsyncFakePipelineEngine(tenant_id="acme") as engine:
        a = await engine.create_pipeline(three_adds(), input={"n": 1})
        assert await engine.create_pipeline(three_adds(), input={"n": 1}) == a
        assert await engine.create_pipeline(three_adds(), input={"n": 2}) != a
        k = await engine.create_pipeline(three_adds(), idempotency_key="k")
        assert await engine.create_pipeline(three_adds(), idempotency_key="k") == k
        with pytest.raises(Conflict):
            await engine.create_pipeline(three_adds(), input={"other": True}, idempotency_key="k")
        page = await engine.list_pipelines(page_size=2)
        assert page.items[0].pipeline_id == k and page.next_page_token
        rest = await engine.list_pipelines(page_size=2, page_token=page.next_page_token)
        assert len(rest.items) == 1 and rest.next_page_token is None


async def test_process_uses_the_tenant_config_and_settings() -> None:
    async with AsyncFakePipelineEngine() as engine:
        with pytest.raises(TenantNotFound):
            await engine.process("acme", {"x": 1})
        await engine.put_tenant_config(
            "acme",
            {"pipeline_definition": {"type": "step", "name": "t_echo"}, "settings": {"s": 1}},
        )
        pid = await engine.process("acme", {"x": 1})
        status = await engine.wait_for(pid, timeout=5)
        assert status.result["settings"] == {"s": 1}
        assert status.result["input"] == {"x": 1} and status.result["tenant_id"] == "acme"
        stored = await engine.get_tenant_config("acme")
        assert stored["settings"] == {"s": 1} and stored.settings == {"s": 1}
        # A config read earlier can be written back; its version makes the write conditional.
        changed = stored.model_copy(update={"settings": {"s": 2}})
        assert (await engine.put_tenant_config("acme", changed)).version == stored.version + 1
        with pytest.raises(Conflict):
            await engine.put_tenant_config("acme", changed)
        await engine.delete_tenant_config("acme")
        with pytest.raises(TenantNotFound):
            await engine.get_tenant_config("acme")


async def test_tenant_priority_is_accepted_kept_and_checked() -> None:
    async with AsyncFakePipelineEngine() as engine:
        definition = {"type": "step", "name": "t_echo"}
        stored = await engine.put_tenant_config(
            "acme", {"pipeline_definition": definition, "priority": 1, "fairness_weight": 0.5}
        )
        assert stored.priority == 1 and stored.fairness_weight == 0.5
        # written back from what was read, it keeps them (and its version makes it conditional)
        again = await engine.put_tenant_config("acme", stored.model_copy(update={"settings": {}}))
        assert again.priority == 1 and again.fairness_weight == 0.5
        pid = await engine.process("acme", {"x": 1})
        assert (await engine.wait_for(pid, timeout=5)).state is PipelineState.SUCCEEDED
        with pytest.raises(InvalidInput) as err:
            await engine.put_tenant_config(
                "acme", {"pipeline_definition": definition, "priority": 9}
            )
        assert [p.path for p in err.value.problems] == ["$.priority"]


def test_sync_twin_controls_and_subscription() -> None:
    with FakePipelineEngine() as engine:
        hold = engine.hold_step("t_add-3")
        pid = engine.create_pipeline(three_adds())
        seen: list[tuple[str, threading.Thread]] = []
        sub = engine.subscribe_events(
            pid, lambda e: seen.append((e.type, threading.current_thread()))
        )
        engine.start_pipeline(pid)
        hold.wait_reached(timeout=5)
        assert engine.get_status(pid) is PipelineState.RUNNING
        hold.release()
        assert engine.wait_for(pid, timeout=5).result == 111
        sub.wait(timeout=5)
        history: list[Event] = engine.get_history(pid)
        assert [t for t, _ in seen] == [e.type for e in history]
        assert all(t is not threading.current_thread() for _, t in seen)
        assert [e.id for e in engine.stream_events(pid, after_id=len(history) - 1)] == [
            len(history)
        ]
        points = list(engine.watch_metrics(pid))
        assert {p.name for p in points} >= {"attempts", "duration_s", "progress"}
        assert len(engine.calls) == 3


def test_callbacks_may_call_back_into_the_sync_fake() -> None:
    with FakePipelineEngine() as engine:
        pid = engine.create_pipeline(three_adds())
        states: list[PipelineState] = []
        sub = engine.subscribe_events(pid, lambda e: states.append(engine.get_status(pid)))
        engine.start_pipeline(pid)
        sub.wait(timeout=5)
    assert states[-1] is PipelineState.SUCCEEDED


async def test_non_finite_inputs_and_payloads_are_refused() -> None:
    async with AsyncFakePipelineEngine() as engine:
        with pytest.raises(InvalidInput) as err:
            await engine.create_pipeline(three_adds(), input={"x": [0.5, float("nan")]})
        assert [p.path for p in err.value.problems] == ["$.input.x[1]"]
        with pytest.raises(InvalidConfig) as bad_kwargs:
            await engine.create_pipeline(pipeline("k", step("t_add", n=float("inf"))))
        assert "$.config.definition.kwargs.n" in [p.path for p in bad_kwargs.value.problems]


async def test_local_steps_run_like_the_others() -> None:
    config = pipeline(
        "local",
        chain(step("t_local_add", n=1), step("t_add", n=10, local=True), step("t_add", n=100)),
    )
    async with AsyncFakePipelineEngine() as engine:
        engine.fail_step("t_add", times=1, error=ValueError("boom"))
        pid = await engine.create_pipeline(config)
        await engine.start_pipeline(pid)
        status = await engine.wait_for(pid, timeout=5)
    assert status.state is PipelineState.SUCCEEDED and status.result == 111
    assert [(s.stage_id, s.attempts) for s in status.stages] == [
        ("t_local_add", 1),
        ("t_add", 2),
        ("t_add-2", 1),
    ]


async def test_the_fake_caches_a_step_across_pipelines() -> None:
    config = pipeline("cached", chain(step("t_add"), step("t_stamp", cache=600)))
    async with AsyncFakePipelineEngine() as engine:
        done = []
        for key in ("1", "2"):
            pid = await engine.create_pipeline(config, idempotency_key=key)
            await engine.start_pipeline(pid)
            done.append(await engine.wait_for(pid, timeout=5))
        events = await engine.get_history(done[1].pipeline_id)
    first = done[0].pipeline_id
    assert [c.pipeline_id for c in engine.calls_of("t_stamp")] == [first]  # one attempt in all
    stage = done[1].stage("t_stamp")
    assert stage.cached and stage.state is StageState.SUCCEEDED and stage.attempts == 0
    assert stage.result == done[0].stage("t_stamp").result
    [cached] = [e.payload for e in events if e.type == "stage.cached"]
    assert cached["from_pipeline_id"] == first and cached["stage_id"] == "t_stamp"
