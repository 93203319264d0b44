"""Fan-out strategies, run directly: past the runtime's shard width a group or a map runs in
shards (here shard runs of the interpreter in this process), and the walk cannot tell."""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter import PipelineRun
from pipeline_engine.states import PipelineState, StageState
from tests.pipeline_engine._interpreter.harness import (
    CALLS,
    ShardingRuntime,
    held,
    run_config,
    stage_states,
    until,
)


def step(name: str, sid: str, **options: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "id": sid, **options}


def shards_of(run: PipelineRun) -> int:
    runtime = run._rt
    assert isinstance(runtime, ShardingRuntime)
    return len(runtime.shards)


async def test_a_wide_group_runs_in_shards_with_the_same_results_and_records() -> None:
    group = {"type": "group", "steps": [step("add", f"g{i}", kwargs={"n": i}) for i in range(5)]}
    run = await run_config({"definition": group}, shard_width=2)
    assert run.status().result == [0, 1, 2, 3, 4]
    assert shards_of(run) == 2  # 5 members, shards of max(2, ceil(5 / 2)) = 3
    assert set(stage_states(run).values()) == {StageState.SUCCEEDED}  # merged from the shards
    assert sorted(CALLS) == [(f"g{i}", 1) for i in range(5)]


async def test_a_narrow_group_never_shards() -> None:
    group = {"type": "group", "steps": [step("add", f"g{i}") for i in range(2)]}
    run = await run_config({"definition": group}, shard_width=2)
    assert run.status().result == [1, 1]
    assert shards_of(run) == 0


async def test_a_wide_map_runs_in_shards() -> None:
    mapped = {"type": "map", "id": "m", "items": "/items", "element": step("double", "d")}
    chain = {"type": "chain", "steps": [step("items", "list", kwargs={"count": 6}), mapped]}
    run = await run_config({"definition": chain}, shard_width=2)
    assert run.status().result == [0, 2, 4, 6, 8, 10]
    assert shards_of(run) == 2
    assert stage_states(run)["d[5]"] is StageState.SUCCEEDED


async def test_a_member_failed_in_a_shard_is_held_in_the_pipeline_and_retried_there() -> None:
    async def drive(run: PipelineRun) -> None:
        await until(held(run))
        run.retry_stage("f", "again")

    members = [step("add", f"g{i}") for i in range(3)]
    members.append(step("flaky", "f", kwargs={"fails": 1, "value": 9}, retry={"max_attempts": 1}))
    run = await run_config(
        {"definition": {"type": "group", "steps": members}}, shard_width=2, drive=drive
    )
    assert run.status().state is PipelineState.SUCCEEDED
    assert run.status().result == [1, 1, 1, 9]
    assert [c for c in CALLS if c[0] == "f"] == [("f", 1), ("f", 2)]  # in the shard, then here
    assert [c for c in CALLS if c[0] == "g0"] == [("g0", 1)]


async def test_a_failure_in_a_shard_fails_a_pipeline_without_a_hold() -> None:
    members = [step("add", f"g{i}") for i in range(3)]
    members.append(step("boom", "b", retry={"max_attempts": 1}))
    config = {"definition": {"type": "group", "steps": members}, "failure_hold_s": 0}
    run = await run_config(config, shard_width=2)
    status = run.status()
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.stage_id == "b"


async def test_chord_on_error_continue_absorbs_a_failure_in_a_shard() -> None:
    members = [step("add", f"g{i}") for i in range(3)]
    members.append(step("boom", "b", retry={"max_attempts": 1}))
    chord = {
        "type": "chord",
        "on_error": "continue",
        "group": {"type": "group", "steps": members},
        "callback": step("echo", "cb"),
    }
    run = await run_config({"definition": chord}, shard_width=2)
    result = run.status().result
    assert result[:3] == [1, 1, 1]
    assert result[3]["__failed__"] is True and result[3]["stage_id"] == "b"
