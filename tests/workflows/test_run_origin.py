"""A run keeps its origin (``pipeline_ref``, search attribute ``PipelineVersion``) through
continue-as-new, and a pipeline that continued as new is one row of the list and one of the
counts (issue 19's defect: one row per run, the older ones stuck at RUNNING)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from pipeline_engine.pages import PipelineWhere
from pipeline_engine.service import PreparedConfig
from pipeline_engine.states import PipelineState
from pipeline_engine.versions import PipelineVersionRef
from tests.support.waiting import wait_for_state, wait_until
from workflows import names, web_ui
from workflows.engine import TemporalPipelineEngine
from workflows.messages import STORE_LIMITS

CONTINUED = STORE_LIMITS.model_copy(update={"shard_width": None, "continue_as_new_events": 60})


def _chain(name: str, length: int) -> dict[str, Any]:
    step = {"type": "step", "name": "t_add"}
    return {"name": name, "definition": {"type": "chain", "steps": [step] * length}}


async def test_a_continued_pipeline_is_listed_once_and_keeps_its_version(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    continued = TemporalPipelineEngine(engine.client, task_queue=task_queue, limits=CONTINUED)
    name = f"long-{uuid.uuid4().hex[:8]}"
    ref = PipelineVersionRef(name=name, version=3, digest="ab" * 32)
    prepared = replace(PreparedConfig.of(_chain(name, 40), registry=None), ref=ref)
    created = await continued.create_pipeline(prepared, start=True, tenant_id="origin-t")
    pid = created.pipeline_id
    status = await wait_for_state(continued, pid, timeout=180)
    assert status.state is PipelineState.SUCCEEDED and status.result == 40, status.error
    assert status.pipeline_ref == ref  # carried into every continued run's input
    runs = [w async for w in engine.client.list_workflows(f"WorkflowId = '{pid}'")]
    assert len(runs) >= 3, "a chain of 40 takes several runs at 60 events each"
    assert sum(w.status is WorkflowExecutionStatus.CONTINUED_AS_NEW for w in runs) == len(runs) - 1
    last = await engine.client.get_workflow_handle(pid).describe()
    assert last.typed_search_attributes.get(names.SA_PIPELINE_VERSION) == 3
    first = await engine.client.get_workflow_handle(pid, run_id=runs[-1].run_id).describe()
    assert await first.static_summary() == f"origin-t · {name} v3 · 40 stages"
    assert f"version 3 of `{name}`" in (await first.static_details() or "")
    # a continued run has no static summary (Temporal keeps none): its current details say it
    assert f"`{name}` v3" in web_ui.current_details(status)
    events = await continued.get_history(pid)
    assert events[0].payload["pipeline_ref"] == ref.model_dump()

    where = PipelineWhere(name_prefix=name)
    seen: dict[str, Any] = {}

    async def settled() -> bool:  # visibility lags behind the workflow's end
        seen["page"] = await engine.list_pipelines(where=where)
        seen["counts"] = await engine.count_pipelines(where=where)
        states = [p.state for p in seen["page"].items]
        return "SUCCEEDED" in states and seen["counts"].get("SUCCEEDED") == 1

    await wait_until(settled, timeout=30)
    # one row, not one per run (before: five rows, four of them RUNNING)
    assert [(p.pipeline_id, p.state) for p in seen["page"].items] == [(pid, "SUCCEEDED")]
    assert seen["counts"] == {"SUCCEEDED": 1}
    assert seen["page"].items[0].pipeline_version == 3
    by_version = await engine.list_pipelines(where=PipelineWhere(pipeline=name, version=3))
    assert [p.pipeline_id for p in by_version.items] == [pid]
    assert not (await engine.list_pipelines(where=PipelineWhere(pipeline=name, version=2))).items
    assert await engine.count_pipelines(where=PipelineWhere(pipeline=name)) == {"SUCCEEDED": 1}


async def test_a_raw_config_has_no_version_and_is_no_stored_pipeline_s_run(
    engine: TemporalPipelineEngine,
) -> None:
    name = f"raw-{uuid.uuid4().hex[:8]}"
    created = await engine.create_pipeline(_chain(name, 1), start=True)
    status = await wait_for_state(engine, created.pipeline_id)
    assert status.state is PipelineState.SUCCEEDED and status.pipeline_ref is None
    desc = await engine.client.get_workflow_handle(created.pipeline_id).describe()
    assert desc.typed_search_attributes.get(names.SA_PIPELINE_VERSION) is None

    async def listed() -> bool:
        return bool((await engine.list_pipelines(where=PipelineWhere(name_prefix=name))).items)

    await wait_until(listed)
    assert not (await engine.list_pipelines(where=PipelineWhere(pipeline=name))).items


async def test_with_no_worker_the_status_from_temporal_s_records_names_the_version(
    engine: TemporalPipelineEngine,
) -> None:
    unpolled = TemporalPipelineEngine(
        engine.client, task_queue=f"nobody-{uuid.uuid4().hex[:8]}", query_timeout_s=1.0
    )
    ref = PipelineVersionRef(name="crates", version=5, digest="cd" * 32)
    prepared = replace(PreparedConfig.of(_chain("crates", 1), registry=None), ref=ref)
    created = await unpolled.create_pipeline(prepared, tenant_id="origin-t")
    status = await unpolled.get_pipeline(created.pipeline_id)
    assert status.note is not None and status.pipeline_ref == ref  # from the workflow's memo
    await engine.client.get_workflow_handle(created.pipeline_id).terminate("test over")
