"""Fan-out strategies, run directly: past the runtime's shard width a group or a map runs in
shards (here shard runs of the interpreter in this process), and the walk cannot tell."""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter import PipelineRun
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import StagePage, StageStatus
from tests.pipeline_engine._interpreter.harness import (
    CALLS,
    ShardingRuntime,
    held,
    run_config,
    until,
    whole_history,
    whole_status,
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
    status = await whole_status(run)  # read from the shards, as the engine reads it
    assert [s.stage_id for s in status.stages] == [f"g{i}" for i in range(5)]
    assert {s.state for s in status.stages} == {StageState.SUCCEEDED}
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
    status = await whole_status(run)
    assert [s.stage_id for s in status.stages] == ["list", "m", *(f"d[{i}]" for i in range(6))]
    assert status.stage("d[5]").state is StageState.SUCCEEDED


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


def ids(stages: list[StageStatus]) -> list[str]:
    return [s.stage_id for s in stages]


async def test_a_thin_parent_keeps_counts_and_pages_the_rest_from_its_shards() -> None:
    """The parent keeps no record nor event of a shard's members; every page of its status and
    history, read as the engine reads them, is the page a parent holding everything would give."""
    members = [step("add", f"g{i}", kwargs={"n": i}) for i in range(40)]
    chain = {
        "type": "chain",
        "steps": [step("add", "first"), {"type": "group", "steps": members}, step("echo", "last")],
    }
    run = await run_config({"definition": chain}, shard_width=6)
    assert run.status().state is PipelineState.SUCCEEDED
    assert shards_of(run) == 6  # 40 members, shards of max(6, ceil(40 / 6)) = 7
    records = run._records
    assert set(records.stages) == {"first", "last"}  # the members' records stay in the shards
    assert len(records.events) == 7 and len(records.spans) == 6  # their events too
    everything = ["first", *(f"g{i}" for i in range(40)), "last"]
    whole = await whole_status(run)
    assert ids(whole.stages) == everything
    assert whole.stage_counts == {"SUCCEEDED": 42} and whole.stages_total == 42
    for offset, limit in [(0, 5), (1, 7), (5, 9), (36, 10), (41, 1), (42, 3)]:
        page = await whole_status(run, StagePage(offset=offset, limit=limit))
        assert ids(page.stages) == everything[offset : offset + limit], (offset, limit)
        assert page.stages_offset == offset and page.stages_total == 42
    done = await whole_status(run, StagePage(state=StageState.SUCCEEDED, offset=3, limit=4))
    assert ids(done.stages) == everything[3:7]
    none = await whole_status(run, StagePage(state=StageState.FAILED))
    assert none.stages == [] and none.stages_total == 0
    events = await whole_history(run)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 7 + 2 * 40
    assert events[0].type == "pipeline.created" and events[-1].type == "pipeline.succeeded"
    succeeded = [e.payload["stage_id"] for e in events if e.type == "stage.succeeded"]
    assert sorted(succeeded) == sorted(everything)
    for after, limit in [(0, 10), (3, 4), (10, 30), (50, 100), (84, 10), (87, 5)]:
        page_ = await whole_history(run, after_id=after, limit=limit)
        assert page_ == events[after : after + limit], (after, limit)


async def test_a_thin_parent_adopts_a_member_failed_in_a_shard_and_counts_it_once() -> None:
    async def drive(run: PipelineRun) -> None:
        await until(held(run))
        status = await whole_status(run)
        assert status.stage_counts == {"SUCCEEDED": 5, "FAILED": 1}
        assert status.stage("f").state is StageState.FAILED
        run.retry_stage("f", "again")

    members = [step("add", f"g{i}") for i in range(5)]
    members.insert(
        2, step("flaky", "f", kwargs={"fails": 1, "value": 9}, retry={"max_attempts": 1})
    )
    run = await run_config(
        {"definition": {"type": "group", "steps": members}}, shard_width=2, drive=drive
    )
    assert run.status().result == [1, 1, 9, 1, 1, 1]
    assert "f" in run._records.stages  # adopted: retried here
    status = await whole_status(run)
    assert status.stage_counts == {"SUCCEEDED": 6} and status.stages_total == 6
    assert sorted(ids(status.stages)) == sorted(["f", *(f"g{i}" for i in range(5))])
    assert status.stage("f").attempts == 2
    events = await whole_history(run)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events if e.payload.get("stage_id") == "f"] == [
        "stage.scheduled",
        "stage.failed",
        "pipeline.failed",
        "stage.retry_requested",
        "stage.scheduled",
        "stage.succeeded",
    ]


async def test_a_thin_parent_failing_fast_leaves_no_stage_pending() -> None:
    members = [step("add", f"g{i}") for i in range(9)]
    members.insert(1, step("boom", "b", retry={"max_attempts": 1}))
    config = {"definition": {"type": "group", "steps": members}, "failure_hold_s": 0}
    run = await run_config(config, shard_width=3)
    status = await whole_status(run)
    assert status.state is PipelineState.FAILED
    assert "PENDING" not in status.stage_counts and "RUNNING" not in status.stage_counts
    assert status.stages_total == 10
