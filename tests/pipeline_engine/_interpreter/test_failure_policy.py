"""The failure policy, run directly on the in-process runtime: ``on_failure`` (fail, continue, a
handler), holding a failed pipeline for ``retry_stage``, chord and map ``on_error``, fail-fast
fan-outs and step retries."""

from __future__ import annotations

from typing import Any, cast

from pipeline_engine._interpreter import FAILURE_MARKER, PipelineRun
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy
from pipeline_engine.events import EventType
from pipeline_engine.states import PipelineState, StageState
from tests.pipeline_engine._interpreter.harness import (
    CALLS,
    event_types,
    held,
    run_config,
    stage_states,
    until,
)

NO_HOLD = {"failure_hold_s": 0}


def step(name: str, sid: str, **options: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "id": sid, **options}


def once(sid: str = "b", **options: Any) -> dict[str, Any]:
    """A step that fails for good at its first attempt."""
    return step("boom", sid, retry={"max_attempts": 1}, **options)


def chain(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"type": "chain", "steps": list(steps)}


# ---------------------------------------------------------------- on_failure
async def test_on_failure_continue_hands_none_to_the_next_stage() -> None:
    run = await run_config({"definition": chain(once(on_failure="continue"), step("echo", "e"))})
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result is None
    assert stage_states(run) == {"b": StageState.FAILED, "e": StageState.SUCCEEDED}
    failed = next(e for e in run.history() if e.type == EventType.STAGE_FAILED.value)
    assert failed.payload["on_failure"] == "continue"


async def test_a_failure_handler_s_result_stands_for_the_stage_s() -> None:
    run = await run_config({"definition": chain(once(on_failure="rescue"), step("echo", "e"))})
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == {"rescued": "b", "error": "ValueError"}
    assert stage_states(run)["b.on_failure"] is StageState.SUCCEEDED


async def test_a_failed_handler_leaves_the_stage_failed() -> None:
    config = {"definition": once(on_failure="boom"), **NO_HOLD}
    run = await run_config(config)
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.stage_id == "b"
    assert stage_states(run)["b.on_failure"] is StageState.FAILED


async def test_on_failure_fail_without_a_hold_ends_the_pipeline_and_skips_the_rest() -> None:
    run = await run_config({"definition": chain(once(), step("add", "never")), **NO_HOLD})
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None
    assert (status.error.type, status.error.stage_id) == ("ValueError", "b")
    assert stage_states(run)["never"] is StageState.SKIPPED
    assert status.retryable_until is None


async def test_a_held_failure_resumes_on_retry_without_re_running_what_succeeded() -> None:
    async def drive(run: PipelineRun) -> None:
        await until(held(run))
        assert run.status().error is not None
        run.retry_stage("f", "fixed it")

    config = {
        "definition": chain(
            step("add", "a", kwargs={"n": 1}),
            step("flaky", "f", kwargs={"fails": 2, "value": 9}, retry={"max_attempts": 2}),
            step("add", "z", kwargs={"n": 1}),
        )
    }
    run = await run_config(config, drive=drive)
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == 10
    assert CALLS == [("a", 1), ("f", 1), ("f", 2), ("f", 3), ("z", 1)]  # attempts go on
    kinds = [e.type for e in run.history()]
    assert EventType.STAGE_RETRY_REQUESTED.value in kinds
    assert EventType.PIPELINE_RESUMED.value in kinds


async def test_a_member_of_a_group_holds_the_pipeline_and_resumes_alone() -> None:
    async def drive(run: PipelineRun) -> None:
        await until(held(run))
        run.retry_stage("f", "again")

    group = {
        "type": "group",
        "steps": [
            step("add", "ok", kwargs={"n": 3}),
            step("flaky", "f", kwargs={"fails": 1, "value": 5}, retry={"max_attempts": 1}),
        ],
    }
    run = await run_config({"definition": group}, drive=drive)
    assert run.status().result == [3, 5]
    assert [c for c in CALLS if c[0] == "ok"] == [("ok", 1)]


# ---------------------------------------------------------------- fan-outs
async def test_chord_on_error_continue_hands_failure_markers_to_the_callback() -> None:
    chord = {
        "type": "chord",
        "on_error": "continue",
        "group": {"type": "group", "steps": [step("add", "ok", kwargs={"n": 1}), once("bad")]},
        "callback": step("echo", "cb"),
    }
    run = await run_config({"definition": chord})
    result = run.status().result
    assert run.status().state is PipelineState.SUCCEEDED
    assert result[0] == 1
    assert result[1][FAILURE_MARKER] is True
    assert (result[1]["stage_id"], result[1]["error"]["type"]) == ("bad", "ValueError")
    assert run.status().retryable_until is None  # absorbed: nothing held


async def test_chord_on_error_fail_never_runs_the_callback() -> None:
    chord = {
        "type": "chord",
        "group": {"type": "group", "steps": [once("bad")]},
        "callback": step("echo", "cb"),
    }
    run = await run_config({"definition": chord, **NO_HOLD})
    assert run.status().state is PipelineState.FAILED
    assert stage_states(run)["cb"] is StageState.SKIPPED


async def test_a_failed_member_fails_its_group_fast_cancelling_the_others() -> None:
    group = {"type": "group", "steps": [step("slow", "s"), once("bad")]}
    run = await run_config({"definition": group, **NO_HOLD})
    assert run.status().state is PipelineState.FAILED
    assert stage_states(run)["s"] is StageState.CANCELLED
    assert EventType.STAGE_CANCELLED.value in event_types(run, "s")


async def test_map_on_error_continue_keeps_a_marker_in_the_failed_run_s_place() -> None:
    element = step("flaky", "f", kwargs={"fails": 1}, retry={"max_attempts": 1})
    mapped = {"type": "map", "items": "/items", "on_error": "continue", "element": element}
    run = await run_config(
        {"definition": chain(step("items", "list", kwargs={"count": 2}), mapped)}
    )
    result = run.status().result
    assert [r[FAILURE_MARKER] for r in result] == [True, True]
    assert [r["stage_id"] for r in result] == ["f[0]", "f[1]"]


async def test_map_items_that_do_not_resolve_fail_the_map() -> None:
    mapped = {"type": "map", "id": "m", "items": "/nowhere", "element": step("double", "d")}
    run = await run_config({"definition": chain(step("items", "list"), mapped), **NO_HOLD})
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None
    assert (status.error.type, status.error.stage_id) == ("InvalidItems", "m")
    assert "/nowhere" in status.error.message


# ---------------------------------------------------------------- retries
async def test_a_step_is_retried_until_it_succeeds() -> None:
    flaky = step("flaky", "f", kwargs={"fails": 2}, retry={"max_attempts": 3})
    run = await run_config({"definition": flaky})
    assert run.status().result == 7
    assert CALLS == [("f", 1), ("f", 2), ("f", 3)]
    assert run.status().stages[0].attempts == 3


async def test_a_non_retryable_error_fails_at_the_first_attempt() -> None:
    bad = step("boom", "b", retry={"max_attempts": 5, "non_retryable_errors": ["ValueError"]})
    run = await run_config({"definition": bad, **NO_HOLD})
    assert run.status().state is PipelineState.FAILED
    assert CALLS == [("b", 1)]


# ---------------------------------------------------------------- the policy object
def test_inside_an_absorbing_fan_out_nothing_holds() -> None:
    ctx = cast(RunContext, None)  # the flags do not read the run
    top = FailurePolicy(ctx, holds=True)
    assert top.fan_out(absorb=False).members().holds
    assert not top.fan_out(absorb=True).members().holds
    assert not FailurePolicy(ctx, holds=True, captured=[]).members().holds


def test_only_a_fan_out_that_neither_holds_nor_settles_fails_fast() -> None:
    ctx = cast(RunContext, None)
    assert FailurePolicy(ctx, holds=False).fails_fast
    assert not FailurePolicy(ctx, holds=True).fails_fast
    assert not FailurePolicy(ctx, holds=False, absorb=True).fails_fast
    assert not FailurePolicy(ctx, holds=False, captured=[]).fails_fast
