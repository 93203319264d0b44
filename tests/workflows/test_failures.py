"""Retries, timeouts, on_failure modes, chord on_error, hooks and the pipeline timeout."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pipeline_engine.states import PipelineState, StageState
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state, wait_until
from workflows.engine import TemporalPipelineEngine

FAST_RETRY = {"max_attempts": 3, "initial_interval_s": 0.05, "backoff": 1.0}


def s(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **extra}


async def run(
    engine: TemporalPipelineEngine,
    config: dict[str, Any],
    *,
    states: tuple[PipelineState, ...] = (),
) -> Any:
    created = await engine.create_pipeline({"name": "f", **config}, start=True)
    return await wait_for_state(engine, created.pipeline_id, *states)


async def test_retries_until_success_and_counts_attempts(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine, {"definition": s("t_flaky", kwargs={"fail_times": 2}, retry=FAST_RETRY)}
    )
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == "ok at attempt 3"
    assert status.stage("t_flaky").attempts == 3


async def test_retry_policy_from_pipeline_defaults(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "defaults": {"retry": {"max_attempts": 2, "initial_interval_s": 0.05}},
            "failure_hold_s": 0,
            "definition": s("t_flaky", kwargs={"fail_times": 5}),
        },
    )
    assert status.state is PipelineState.FAILED
    assert status.stage("t_flaky").attempts == 2
    assert status.error is not None and status.error.type == "ValueError"
    assert status.error.stage_id == "t_flaky"


async def test_non_retryable_error_fails_at_once(engine: TemporalPipelineEngine) -> None:
    retry = {**FAST_RETRY, "non_retryable_errors": ["KeyError"]}
    status = await run(
        engine,
        {
            "failure_hold_s": 0,
            "definition": s("t_flaky", kwargs={"fail_times": 5, "error": "KeyError"}, retry=retry),
        },
    )
    assert status.state is PipelineState.FAILED
    assert status.stage("t_flaky").attempts == 1
    assert status.stage("t_flaky").error.type == "KeyError"


async def test_step_timeout_fails_the_attempt(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "failure_hold_s": 0,
            "definition": s(
                "t_sleep",
                kwargs={"seconds": 10},
                timeout_s=0.5,
                retry={"max_attempts": 2, "initial_interval_s": 0.05},
            ),
        },
    )
    assert status.state is PipelineState.FAILED
    stage = status.stage("t_sleep")
    assert stage.error.type == "TimeoutError"
    assert stage.attempts == 2


async def test_pipeline_timeout(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "timeout_s": 3,
            "definition": {
                "type": "chain",
                "steps": [s("t_add"), s("t_sleep", kwargs={"seconds": 20})],
            },
        },
    )
    assert status.state is PipelineState.FAILED
    assert status.error.type == "PipelineTimeout"
    assert status.stage("t_add").state is StageState.SUCCEEDED
    assert status.stage("t_sleep").state is StageState.CANCELLED


async def test_on_failure_continue_passes_none(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "definition": {
                "type": "chain",
                "steps": [
                    s("t_fail", on_failure="continue", retry={"max_attempts": 1}),
                    s("t_echo"),
                ],
            }
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    assert status.stage("t_fail").state is StageState.FAILED
    assert status.result["previous"] is None


async def test_on_failure_handler_step(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "definition": {
                "type": "chain",
                "steps": [
                    s(
                        "t_fail",
                        kwargs={"message": "bad crate"},
                        on_failure="t_handler",
                        retry={"max_attempts": 1},
                    ),
                    s("t_echo"),
                ],
            }
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    assert status.result["previous"] == {"handled": "t_fail", "error": "bad crate"}
    assert status.stage("t_fail.on_failure").state is StageState.SUCCEEDED
    assert status.stage("t_fail.on_failure").kind == "handler"


async def test_on_failure_fail_parks_in_failed_then_fails_for_good(
    engine: TemporalPipelineEngine,
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "hold",
            "failure_hold_s": 4,
            "definition": {
                "type": "chain",
                "steps": [s("t_fail", retry={"max_attempts": 1}), s("t_add")],
            },
        },
        start=True,
    )
    held = await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED)
    assert held.retryable_until is not None
    assert held.stage("t_add").state is StageState.PENDING
    assert not await engine.is_closed(created.pipeline_id)
    handle = engine.client.get_workflow_handle(created.pipeline_id)
    try:
        await handle.result()
        raise AssertionError("the workflow should fail once the hold expires")
    except Exception as exc:  # WorkflowFailureError
        assert "pipeline failed" in str(exc.__cause__ or exc)
    final = await engine.get_pipeline(created.pipeline_id)
    assert final.state is PipelineState.FAILED
    assert final.stage("t_add").state is StageState.SKIPPED
    events = await engine.get_history(created.pipeline_id)
    failed = [e for e in events if e.type == "pipeline.failed"]
    assert [e.payload["retryable"] for e in failed] == [True, False]


async def test_chord_on_error_fail_never_runs_callback(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    status = await run(
        engine,
        {
            "failure_hold_s": 0,
            "definition": {
                "type": "chord",
                "group": {
                    "type": "group",
                    "steps": [s("t_add"), s("t_fail", retry={"max_attempts": 1})],
                },
                "callback": s("t_sum"),
            },
        },
    )
    assert status.state is PipelineState.FAILED
    assert status.stage("t_sum").state is StageState.SKIPPED
    assert "t_sum" not in {sid for sid, _, _ in calls_of(calls_dir, status.pipeline_id)}


async def test_chord_on_error_continue_marks_failures(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "definition": {
                "type": "chord",
                "on_error": "continue",
                "group": {
                    "type": "group",
                    "steps": [s("t_add", kwargs={"n": 4}), s("t_fail", retry={"max_attempts": 1})],
                },
                "callback": s("t_echo"),
            },
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    ok, failed = status.result["previous"]
    assert ok == 4
    assert failed["__failed__"] is True and failed["stage_id"] == "t_fail"
    assert failed["error"]["message"] == "always fails"


async def test_hooks_run_at_transitions(engine: TemporalPipelineEngine, calls_dir: Path) -> None:
    status = await run(
        engine,
        {"hooks": {"on_start": "t_hook", "on_success": "t_hook"}, "definition": s("t_add")},
    )
    assert status.state is PipelineState.SUCCEEDED
    hook_calls = [
        sid for sid, _, _ in calls_of(calls_dir, status.pipeline_id) if sid.startswith("hook.")
    ]
    assert hook_calls == ["hook.on_start", "hook.on_success"]
    types = [e.type for e in await engine.get_history(status.pipeline_id)]
    assert types.count("hook.succeeded") == 2
    assert types[-1] == "pipeline.succeeded"


async def test_failing_hook_does_not_change_the_outcome(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "defaults": {"retry": {"max_attempts": 1}},
            "hooks": {"on_success": "t_fail"},
            "definition": s("t_add"),
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    events = await engine.get_history(status.pipeline_id)
    assert any(e.type == "hook.failed" and e.payload["hook"] == "on_success" for e in events)


async def test_max_concurrency_limits_a_step(engine: TemporalPipelineEngine) -> None:
    member = s("t_sleep", kwargs={"seconds": 0.4}, resources={"max_concurrency": 1})
    status = await run(engine, {"definition": {"type": "group", "steps": [member, member, member]}})
    spans = sorted((r["start"], r["end"]) for r in status.result)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.01, f"overlap despite max_concurrency=1: {spans}"


async def test_failed_only_once_the_failing_fan_out_has_drained(
    engine: TemporalPipelineEngine,
) -> None:
    """A member fails for good while its sibling still runs: the pipeline stays RUNNING (the
    sibling RUNNING) and shows FAILED only once the sibling has finished."""
    config = {
        "name": "drain",
        "definition": {
            "type": "group",
            "steps": [
                s("t_fail", retry={"max_attempts": 1}),
                s("t_sleep", kwargs={"seconds": 3}),
            ],
        },
    }
    pid = (await engine.create_pipeline(config, start=True)).pipeline_id

    async def failed_member() -> bool:
        status = await engine.get_pipeline(pid)
        return status.stage("t_fail").state is StageState.FAILED

    await wait_until(failed_member, timeout=30)
    during = await engine.get_pipeline(pid)
    assert during.stage("t_sleep").state is StageState.RUNNING
    assert during.state is PipelineState.RUNNING, during
    assert "pipeline.failed" not in [e.type for e in await engine.get_history(pid)]
    after = await wait_for_state(engine, pid, PipelineState.FAILED, timeout=30)
    assert after.stage("t_sleep").state is StageState.SUCCEEDED
    events = [e.type for e in await engine.get_history(pid)]
    assert events.index("pipeline.failed") > events.index("stage.succeeded")
    assert (await engine.retry_stage(pid, "t_fail", "still failing")) is PipelineState.RUNNING
