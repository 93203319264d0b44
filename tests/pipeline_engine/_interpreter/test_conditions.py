"""The DSL's run-time decisions on the interpreter: ``when``, ``switch``, ``$expr`` kwargs,
batched maps and tolerated failures."""

from __future__ import annotations

from typing import Any

from pipeline_engine.states import PipelineState, StageState
from tests.pipeline_engine._interpreter.harness import (
    CALLS,
    held,
    run_config,
    stage_states,
    until,
)


def step(name: str, sid: str, **extra: Any) -> dict[str, Any]:
    kwargs = extra.pop("kwargs", {})
    return {"type": "step", "name": name, "id": sid, "kwargs": kwargs, **extra}


def skipped(run: Any) -> list[dict[str, Any]]:
    return [e.payload for e in run.history() if e.type == "stage.skipped"]


async def test_a_false_when_skips_every_stage_under_it_and_yields_null() -> None:
    inner = {
        "type": "chain",
        "when": "previous > 5",
        "steps": [step("add", "x"), step("add", "y")],
    }
    chain = {
        "type": "chain",
        "steps": [step("add", "a", kwargs={"n": 2}), inner, step("echo", "z")],
    }
    run = await run_config({"definition": chain})
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result is None  # the skipped chain's null went on to z
    states = stage_states(run)
    assert states["x"] is StageState.SKIPPED and states["y"] is StageState.SKIPPED
    assert skipped(run) == [
        {"stage_id": "x", "step": "add", "reason": "when", "expression": "previous > 5"},
        {"stage_id": "y", "step": "add", "reason": "when", "expression": "previous > 5"},
    ]
    assert [c[0] for c in CALLS] == ["a", "z"]


async def test_a_true_when_runs_and_sees_input_and_settings() -> None:
    chain = {
        "type": "chain",
        "steps": [step("add", "a", when="input.given && previous == null")],
    }
    run = await run_config({"definition": chain})
    assert run.status().result == 1
    assert skipped(run) == []


async def test_a_failing_expression_fails_its_stage_with_expression_error() -> None:
    chain = {"type": "chain", "steps": [step("add", "a", when="previous.missing > 1")]}
    run = await run_config({"definition": chain, "failure_hold_s": 0})
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.type == "ExpressionError"
    assert "previous.missing > 1" in status.error.message
    assert status.error.stage_id == "a"
    assert CALLS == []


async def test_switch_runs_the_first_true_case_and_skips_the_others() -> None:
    switch = {
        "type": "switch",
        "id": "by_size",
        "cases": [
            {"when": "previous > 10", "element": step("add", "big", kwargs={"n": 100})},
            {"when": "previous > 1", "element": step("add", "mid", kwargs={"n": 10})},
        ],
        "default": step("add", "small"),
    }
    chain = {"type": "chain", "steps": [step("add", "a", kwargs={"n": 3}), switch]}
    run = await run_config({"definition": chain})
    status = run.status()
    assert status.result == 13
    sw = status.stage("by_size")
    assert sw.kind == "switch" and sw.branch == 1 and sw.state is StageState.SUCCEEDED
    states = stage_states(run)
    assert states["big"] is StageState.SKIPPED and states["small"] is StageState.SKIPPED
    assert {p["stage_id"]: p["reason"] for p in skipped(run)} == {
        "big": "switch",
        "small": "switch",
    }


async def test_switch_without_a_match_or_default_is_null() -> None:
    switch = {"type": "switch", "cases": [{"when": "false", "element": step("add", "never")}]}
    run = await run_config({"definition": {"type": "chain", "steps": [switch]}})
    assert run.status().result is None
    assert run.status().stage("switch").branch is None
    switch["default"] = step("add", "fallback")
    run = await run_config({"definition": {"type": "chain", "steps": [switch]}})
    assert run.status().stage("switch").branch == "default"
    assert run.status().result == 1


async def test_expr_kwargs_are_computed_at_start_and_shown_in_status() -> None:
    chain = {
        "type": "chain",
        "steps": [
            step("add", "a", kwargs={"n": 4}),
            step("add", "b", kwargs={"n": {"$expr": "previous * 10"}}),
        ],
    }
    run = await run_config({"definition": chain})
    status = run.status()
    assert status.result == 44
    assert status.stage("b").computed_kwargs == {"n": 40}
    assert status.stage("a").computed_kwargs is None


async def test_a_map_run_sees_its_item_and_index() -> None:
    element = step("add", "each", kwargs={"n": {"$expr": "item * 100 + index"}})
    chain = {
        "type": "chain",
        "steps": [
            step("items", "list", kwargs={"count": 3}),
            {"type": "map", "id": "m", "items": "/items", "element": element},
        ],
    }
    run = await run_config({"definition": chain})
    # run i gets item i as previous and adds item * 100 + index
    assert run.status().result == [0, 102, 204]


async def test_a_batched_map_hands_lists_and_keeps_one_result_per_item() -> None:
    chain = {
        "type": "chain",
        "steps": [
            step("items", "list", kwargs={"count": 5}),
            {
                "type": "map",
                "id": "m",
                "items": "/items",
                "batch_size": 2,
                "element": step("echo", "batch"),
            },
        ],
    }
    run = await run_config({"definition": chain})
    assert run.status().result == [0, 1, 2, 3, 4]
    assert sorted(c[0] for c in CALLS) == ["batch[0]", "batch[1]", "batch[2]", "list"]
    assert run.status().stage("batch[2]").result == [4]


async def test_a_batch_whose_result_has_another_length_fails_with_batch_result_mismatch() -> None:
    chain = {
        "type": "chain",
        "steps": [
            step("items", "list", kwargs={"count": 4}),
            {
                "type": "map",
                "items": "/items",
                "batch_size": 3,
                "element": step("add", "wrong"),  # returns a number, not a list
            },
        ],
    }
    run = await run_config({"definition": chain, "failure_hold_s": 0})
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.type == "BatchResultMismatch"
    assert status.error.stage_id == "wrong[0]"


async def test_tolerated_failures_mark_items_and_one_more_fails_the_map() -> None:
    def config(tolerated: Any) -> dict[str, Any]:
        element = {
            "type": "switch",
            "cases": [{"when": "item == 1 || item == 3", "element": step("boom", "b")}],
            "default": step("echo", "ok"),
        }
        return {
            "failure_hold_s": 0,
            "definition": {
                "type": "chain",
                "steps": [
                    step("items", "list", kwargs={"count": 10}),
                    {
                        "type": "map",
                        "id": "m",
                        "items": "/items",
                        "tolerated_failures": tolerated,
                        "element": element,
                    },
                ],
            },
        }

    run = await run_config(config("20%"))  # floor(20 * 10 / 100) = 2 failures tolerated
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result[0] == 0
    assert status.result[1]["__failed__"] is True and status.result[1]["stage_id"] == "b[1]"
    run = await run_config(config(1))
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.type == "TooManyFailures"
    assert status.error.stage_id == "m"


async def test_a_map_held_for_too_many_failures_retries_the_failed_items() -> None:
    element = step("flaky", "f", kwargs={"fails": 1, "value": 5}, retry={"max_attempts": 1})
    config = {
        "definition": {
            "type": "chain",
            "steps": [
                step("items", "list", kwargs={"count": 3}),
                {
                    "type": "map",
                    "id": "m",
                    "items": "/items",
                    "tolerated_failures": 0,
                    "element": element,
                },
            ],
        }
    }

    async def drive(run: Any) -> None:
        await until(held(run))
        run.retry_stage("m", "the flaky steps work now")

    run = await run_config(config, drive=drive)
    assert run.status().state is PipelineState.SUCCEEDED
    assert run.status().result == [5, 5, 5]


async def test_a_group_tolerates_failed_members() -> None:
    group = {
        "type": "group",
        "tolerated_failures": 1,
        "steps": [step("add", "g1"), step("boom", "g2")],
    }
    run = await run_config({"definition": group, "failure_hold_s": 0})
    assert run.status().state is PipelineState.SUCCEEDED
    assert run.status().result[1]["stage_id"] == "g2"
