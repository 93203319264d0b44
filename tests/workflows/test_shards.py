"""Wide fan-outs run in shards (child workflows) and long runs continue as new, on a real server.

Scaled down through the limits (shards of 10, continue-as-new after a few dozen events) so that the
shapes of a 100,000-wide map or a 20,000-step chain show in seconds; bench/scale.py runs those.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from pipeline_engine._interpreter._handoff import PartsQuery, StatusParts
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import StagePage
from tests.support.processes import signal_and_wait, start_worker
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state, wait_until
from workflows import names
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.messages import STORE_LIMITS, RunLimits

SHARDED = STORE_LIMITS.model_copy(
    update={"shard_width": 10, "continue_as_new_events": None, "progress_every_s": 0.5}
)
CONTINUED = STORE_LIMITS.model_copy(update={"shard_width": None, "continue_as_new_events": 60})


def s(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **({"kwargs": kw} if kw else {})}


def engine_with(engine: TemporalPipelineEngine, task_queue: str, limits: RunLimits) -> Any:
    return TemporalPipelineEngine(engine.client, task_queue=task_queue, limits=limits)


async def shards_of(client: Client, pipeline_id: str) -> list[Any]:
    query = (
        f"WorkflowType = '{names.SHARD_WORKFLOW_TYPE}' AND WorkflowId STARTS_WITH '{pipeline_id}~'"
    )
    return [w async for w in client.list_workflows(query)]


async def runs_of(client: Client, pipeline_id: str) -> list[Any]:
    return [w async for w in client.list_workflows(f"WorkflowId = '{pipeline_id}'")]


def doubling(count: int, *, max_concurrency: int | None = None, **step: Any) -> dict[str, Any]:
    mapped: dict[str, Any] = {
        "type": "map",
        "id": "twice",
        "items": "/items",
        "element": {"type": "step", "name": "t_double", **step},
    }
    if max_concurrency:
        mapped["max_concurrency"] = max_concurrency
    return {
        "name": "sharded-map",
        "definition": {"type": "chain", "steps": [s("t_items", count=count), mapped]},
    }


async def test_group_of_50_in_shards_of_10(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    sharded = engine_with(engine, task_queue, SHARDED)
    members = [{**s("t_add", n=i), "id": f"m{i}"} for i in range(50)]
    config = {"name": "wide", "definition": {"type": "group", "steps": members}}
    created = await sharded.create_pipeline(config, start=True)
    pid = created.pipeline_id
    status = await wait_for_state(sharded, pid, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == list(range(50))  # in member order, whatever shard ran it
    assert status.stage_counts == {"SUCCEEDED": 50}
    assert status.stage("m37").result == 37 and status.stage("m37").attempts == 1
    ran = [sid for sid, _, _ in calls_of(calls_dir, pid)]
    assert sorted(ran) == sorted(f"m{i}" for i in range(50))  # each once
    shards = await shards_of(sharded.client, pid)
    assert len(shards) == 5
    assert all(w.status is WorkflowExecutionStatus.COMPLETED for w in shards)
    # the pipeline's log holds every member's events, in one order, ids 1..n
    events = await sharded.get_history(pid)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    succeeded = [e.payload["stage_id"] for e in events if e.type == "stage.succeeded"]
    assert sorted(succeeded) == sorted(f"m{i}" for i in range(50))
    assert events[-1].type == "pipeline.succeeded"
    # shards never show as pipelines
    listed = await sharded.list_pipelines(page_size=1000)
    assert pid in {p.pipeline_id for p in listed.items}
    assert all("~" not in p.pipeline_id for p in listed.items)


async def test_map_of_30_in_shards_of_shards_with_one_item_retried_alone(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    """Width 4: 30 runs need shards of 8 (no workflow holds more than 4 shards), each split
    again into shards of at most 4."""
    narrow = engine_with(engine, task_queue, SHARDED.model_copy(update={"shard_width": 4}))
    config = doubling(30, kwargs={"fail_on": 17}, retry={"max_attempts": 1})
    created = await narrow.create_pipeline(config, start=True)
    pid = created.pipeline_id
    failed = await wait_for_state(narrow, pid, PipelineState.FAILED, timeout=120)
    assert failed.error is not None and failed.error.stage_id == "t_double[17]"
    assert failed.stage("t_double[17]").state is StageState.FAILED
    assert failed.stage_counts["SUCCEEDED"] == 30  # t_items and the 29 other runs
    (calls_dir / f"{pid}.fixed").touch()
    await narrow.retry_stage(pid, "t_double[17]", "bad item fixed")
    status = await wait_for_state(narrow, pid, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [2 * i for i in range(30)]
    runs = [sid for sid, _, _ in calls_of(calls_dir, pid)]
    assert runs.count("t_double[17]") == 2
    assert all(runs.count(f"t_double[{i}]") == 1 for i in range(30) if i != 17)
    shards = await shards_of(narrow.client, pid)
    nested = [w for w in shards if w.id.count("~") == 2]
    assert len(shards) - len(nested) == 4 and nested  # 4 shards of 8, split again


async def test_failure_in_a_shard_fails_fast_without_a_hold(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    sharded = engine_with(engine, task_queue, SHARDED)
    config = doubling(25, kwargs={"fail_on": 3}, retry={"max_attempts": 1})
    config["failure_hold_s"] = 0
    created = await sharded.create_pipeline(config, start=True)
    status = await wait_for_state(sharded, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.FAILED
    assert status.error is not None and status.error.stage_id == "t_double[3]"
    assert status.retryable_until is None


async def test_on_error_continue_keeps_failure_markers_across_shards(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    sharded = engine_with(engine, task_queue, SHARDED)
    config = doubling(25, kwargs={"fail_on": 21}, retry={"max_attempts": 1})
    config["definition"]["steps"][1]["on_error"] = "continue"
    created = await sharded.create_pipeline(config, start=True)
    status = await wait_for_state(sharded, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result[20] == 40 and status.result[22] == 44
    assert status.result[21]["__failed__"] and status.result[21]["stage_id"] == "t_double[21]"


async def test_cancel_in_the_middle_of_a_sharded_fan_out(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    sharded = engine_with(engine, task_queue, SHARDED)
    members = [{**s("t_sleep", seconds=1.5), "id": f"z{i}"} for i in range(40)]
    config = {
        "name": "wide-cancel",
        "definition": {"type": "group", "steps": members, "max_concurrency": 8},
        "hooks": {"on_cancel": "t_hook"},
    }
    created = await sharded.create_pipeline(config, start=True)
    pid = created.pipeline_id

    async def some_ran() -> bool:
        status = await sharded.get_pipeline(pid)
        return status.stage_counts.get("SUCCEEDED", 0) >= 2

    await wait_until(some_ran, timeout=60, interval=0.2)
    await sharded.cancel_pipeline(pid, "enough")
    status = await wait_for_state(sharded, pid, timeout=60)
    assert status.state is PipelineState.CANCELLED
    counts = status.stage_counts
    assert "RUNNING" not in counts and "PENDING" not in counts, counts
    assert counts.get("CANCELLED", 0) >= 1 and counts.get("SKIPPED", 0) >= 1, counts
    hooks = [sid for sid, _, _ in calls_of(calls_dir, pid) if sid.startswith("hook.")]
    assert hooks == ["hook.on_cancel"]
    shards = await shards_of(sharded.client, pid)
    assert shards and all(
        w.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CANCELED)
        for w in shards
    )
    assert any(w.status is WorkflowExecutionStatus.CANCELED for w in shards)


async def test_long_chain_continues_as_new_with_its_log_whole(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    continued = engine_with(engine, task_queue, CONTINUED)
    config = {"name": "long", "definition": {"type": "chain", "steps": [s("t_add")] * 40}}
    created = await continued.create_pipeline(config, start=True)
    pid = created.pipeline_id
    status = await wait_for_state(continued, pid, timeout=180)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == 40
    assert status.stage_counts == {"SUCCEEDED": 40}
    runs = await runs_of(continued.client, pid)
    assert len(runs) >= 3, "a chain of 40 should take several runs at 60 events each"
    assert sum(w.status is WorkflowExecutionStatus.CONTINUED_AS_NEW for w in runs) == len(runs) - 1
    ran = [sid for sid, _, _ in calls_of(calls_dir, pid)]
    assert len(ran) == 40 and len(set(ran)) == 40  # nothing ran twice across runs
    events = await continued.get_history(pid)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("stage.scheduled") == 40
    assert events[0].type == "pipeline.created" and events[-1].type == "pipeline.succeeded"
    paged = await continued.get_history(pid, after_id=30, limit=10)
    assert [e.id for e in paged] == list(range(31, 41))


async def test_retry_stage_held_since_an_earlier_run(
    engine: TemporalPipelineEngine, task_queue: str, calls_dir: Path
) -> None:
    """A branch fails and is held; the other branch goes on long enough for the run to continue
    as new; the retry reaches the held stage in the new run."""
    continued = engine_with(engine, task_queue, CONTINUED)
    failing = {
        "type": "chain",
        "steps": [
            s("t_add", n=4),
            {**s("t_double", fail_on=4), "retry": {"max_attempts": 1}, "id": "bad"},
        ],
    }
    config = {
        "name": "held",
        "definition": {
            "type": "group",
            "steps": [failing, {"type": "chain", "steps": [s("t_add")] * 30}],
        },
    }
    created = await continued.create_pipeline(config, start=True)
    pid = created.pipeline_id
    held = await wait_for_state(continued, pid, PipelineState.FAILED, timeout=180)
    assert held.error is not None and held.error.stage_id == "bad"
    runs = await runs_of(continued.client, pid)
    assert len(runs) >= 2, "the long branch should have made the run continue as new"
    (calls_dir / f"{pid}.fixed").touch()
    await continued.retry_stage(pid, "bad", "fixed")
    status = await wait_for_state(continued, pid, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [8, 30]
    bad_runs = [sid for sid, _, _ in calls_of(calls_dir, pid) if sid == "bad"]
    assert len(bad_runs) == 2


async def test_sigkill_of_the_worker_in_the_middle_of_a_sharded_fan_out(
    client: Client,
    temporal_server: TemporalDevServer,
    task_queue: str,
    calls_dir: Path,
    tmp_path: Path,
) -> None:
    sharded = TemporalPipelineEngine(client, task_queue=task_queue, limits=SHARDED)
    log = tmp_path / "worker.log"
    worker = start_worker(temporal_server.address, task_queue, calls_dir=calls_dir, log=log)
    try:
        members = [
            {
                "type": "chain",
                "steps": [
                    {**s("t_add", n=i), "id": f"a{i}"},
                    {**s("t_sleep_sync", seconds=0.4), "id": f"z{i}"},
                ],
            }
            for i in range(30)
        ]
        config = {
            "name": "wide-crash",
            "defaults": {"heartbeat_timeout_s": 2, "retry": {"initial_interval_s": 0.2}},
            "definition": {"type": "group", "steps": members, "max_concurrency": 6},
        }
        created = await sharded.create_pipeline(config, start=True)
        pid = created.pipeline_id

        async def halfway() -> bool:
            status = await sharded.get_pipeline(pid)
            return status.stage_counts.get("SUCCEEDED", 0) >= 16

        await wait_until(halfway, timeout=90, interval=0.2)
        before = await sharded.get_pipeline(pid)
        signal_and_wait(worker, signal.SIGKILL, timeout=10)
        done_before = {st.stage_id for st in before.stages if st.state is StageState.SUCCEEDED}

        worker = start_worker(temporal_server.address, task_queue, calls_dir=calls_dir, log=log)
        status = await wait_for_state(sharded, pid, timeout=120)
        assert status.state is PipelineState.SUCCEEDED, log.read_text()[-3000:]
        assert status.result == [0.4] * 30
        assert status.stage_counts == {"SUCCEEDED": 60}
        runs = [sid for sid, _, _ in calls_of(calls_dir, pid)]
        assert all(runs.count(sid) == 1 for sid in done_before)  # nothing finished runs again
        assert set(runs) == {f"{p}{i}" for p in "az" for i in range(30)}
    finally:
        signal_and_wait(worker, signal.SIGTERM, timeout=10)


async def test_a_thin_parent_pages_status_and_history_from_its_shards(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    """The pipeline's workflow keeps counts and live stages of a sharded group; its stages and
    events are read from the shards, page by page, also while it runs and after it ended."""
    sharded = engine_with(engine, task_queue, SHARDED)
    members = [
        {"type": "chain", "steps": [{**s("t_add", n=i), "id": f"m{i}"}, s("t_sleep", seconds=0)]}
        for i in range(30)
    ]
    members[0]["steps"][1] = {**s("t_sleep", seconds=0.5), "id": "slow0"}
    config = {
        "name": "thin",
        "definition": {
            "type": "chain",
            "steps": [
                {**s("t_add"), "id": "first"},
                {"type": "group", "steps": members, "max_concurrency": 4},
                {**s("t_add"), "id": "last"},
            ],
        },
    }
    created = await sharded.create_pipeline(config, start=True)
    pid = created.pipeline_id

    async def some_ran() -> bool:
        return (await sharded.get_pipeline(pid)).stage_counts.get("SUCCEEDED", 0) >= 8

    await wait_until(some_ran, timeout=60, interval=0.2)
    running = await sharded.get_pipeline(pid, page=StagePage(offset=0, limit=1000))
    assert sum(running.stage_counts.values()) == running.stages_total == 62
    assert [st.stage_id for st in running.stages][:2] == ["first", "m0"]
    status = await wait_for_state(sharded, pid, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    every = (await sharded.get_pipeline(pid, page=StagePage(limit=1000))).stages
    ids = [st.stage_id for st in every]
    assert ids[0] == "first" and ids[-1] == "last" and len(set(ids)) == 62
    assert ids[1:3] == ["m0", "slow0"] and all(st.state is StageState.SUCCEEDED for st in every)
    for offset, limit in [(0, 7), (5, 12), (19, 3), (55, 10)]:
        page = await sharded.get_pipeline(pid, page=StagePage(offset=offset, limit=limit))
        assert [st.stage_id for st in page.stages] == ids[offset : offset + limit]
        assert page.stages_total == 62 and page.stage_counts == {"SUCCEEDED": 62}
    done = await sharded.get_pipeline(
        pid, page=StagePage(state=StageState.SUCCEEDED, offset=40, limit=30)
    )
    assert [st.stage_id for st in done.stages] == ids[40:]
    # the workflow itself holds the two stages of its own and slices of its shards
    own = await sharded.client.get_workflow_handle(pid).query(
        names.QUERY_STATUS_PARTS, PartsQuery(), result_type=StatusParts
    )
    assert [st.stage_id for st in own.status.stages] == ["first", "last"]
    assert len(own.slices) == 3 and all("~" in sl.source for sl in own.slices)
    events = await sharded.get_history(pid)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("stage.succeeded") == 62
    assert events[0].type == "pipeline.created" and events[-1].type == "pipeline.succeeded"
    for after, limit in [(3, 10), (20, 50), (len(events) - 4, 10)]:
        paged = await sharded.get_history(pid, after_id=after, limit=limit)
        assert paged == events[after : after + limit]
    since = events[40].timestamp
    later = await sharded.get_history(pid, since=since, limit=5)
    assert later == [e for e in events if e.timestamp >= since][:5]
