"""Replay recorded histories: an interpreter change that breaks running pipelines fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine
from workflows.messages import STORE_LIMITS
from workflows.pipeline_workflow import PipelineWorkflow
from workflows.shard_workflow import PipelineShardWorkflow
from workflows.worker_factory import build_worker, sandbox_runner

HERE = Path(__file__).parents[1] / "histories"
HISTORIES = sorted(p for p in HERE.glob("*.json") if not p.name.startswith("_"))
WORKFLOW_IDS: dict[str, str] = json.loads((HERE / "_workflow_ids.json").read_text())


def replayer() -> Replayer:
    return Replayer(
        workflows=[PipelineWorkflow, PipelineShardWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )


def test_recorded_histories_exist() -> None:
    assert len(HISTORIES) >= 5


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    workflow_id = WORKFLOW_IDS.get(path.stem, path.stem)  # recorded before ids were kept: any
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    await replayer().replay_workflow(history)


async def test_fresh_history_replays(engine: TemporalPipelineEngine) -> None:
    created = await engine.create_pipeline(
        {
            "name": "fresh",
            "definition": {"type": "group", "steps": [{"type": "step", "name": "t_add"}] * 3},
        },
        start=True,
    )
    assert (await wait_for_state(engine, created.pipeline_id)).state is PipelineState.SUCCEEDED
    history = await engine.client.get_workflow_handle(created.pipeline_id).fetch_history()
    await replayer().replay_workflow(history)


async def test_replay_detects_a_changed_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: replaying with different stage commands must fail."""
    from pipeline_engine._interpreter import _context

    original = _context.RunContext.step_call

    def renamed(self, plan, previous, attempt_offset):  # type: ignore[no-untyped-def]
        call = original(self, plan, previous, attempt_offset)
        return type(call)(**{**call.__dict__, "step": "t_noop"})

    monkeypatch.setattr(_context.RunContext, "step_call", renamed)
    path = next(p for p in HISTORIES if p.stem == "dag_with_retry")
    with pytest.raises(Exception, match=r"(?i)nondetermin"):
        await replayer().replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


def test_a_recorded_history_holds_signals_and_a_rejection() -> None:
    path = next(p for p in HISTORIES if p.stem == "signals")
    text = path.read_text()
    assert text.count("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED") == 5
    assert '"markerName": "core_patch"' in text  # the signals-beside-updates patch


async def test_a_sandboxed_worker_runs_the_same_pipelines(
    client: Client, registry: StepRegistry, task_queue: str
) -> None:
    """PIPELINE_ENGINE_WORKFLOW_SANDBOX=true: the workflows (a shard too) run in the sandbox."""
    limits = STORE_LIMITS.model_copy(update={"shard_width": 4, "progress_every_s": 0.2})
    engine = TemporalPipelineEngine(client, task_queue=task_queue, limits=limits)
    items = {"type": "step", "name": "t_items", "kwargs": {"count": 9}}
    mapped = {"type": "map", "items": "/items", "element": {"type": "step", "name": "t_double"}}
    config = {"name": "sandboxed", "definition": {"type": "chain", "steps": [items, mapped]}}
    async with build_worker(client, task_queue=task_queue, registry=registry, sandboxed=True):
        created = await engine.create_pipeline(config, start=True)
        status = await wait_for_state(engine, created.pipeline_id, timeout=60)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [2 * i for i in range(9)]
