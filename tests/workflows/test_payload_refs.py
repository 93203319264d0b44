"""Large results and inputs travel by reference through the payload store; steps see values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import DRIVER_NAME
from workflows.payload_store import PayloadStore, folder_path
from workflows.worker_factory import INLINE_RESULT_LIMIT, build_worker, connect

MB = 1024 * 1024


def s(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **({"kwargs": kw} if kw else {})}


async def history_bytes(client: Client, pipeline_id: str) -> int:
    history = await client.get_workflow_handle(pipeline_id).fetch_history()
    return sum(e.ByteSize() for e in history.events)


async def test_a_10_mb_result_and_a_large_input_pass_by_reference(
    engine: TemporalPipelineEngine, client: Client, payload_store: PayloadStore
) -> None:
    big_input = {"rows": ["r" * 100] * 2000}  # ~200 KB
    created = await engine.create_pipeline(
        {
            "name": "big",
            "definition": {
                "type": "chain",
                "steps": [s("t_blob", size=10 * MB), s("t_measure")],
            },
        },
        input=big_input,
        start=True,
    )
    status = await wait_for_state(engine, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.stage("t_blob").result["size"] == 10 * MB
    measured = status.result
    assert measured["previous_size"] == 10 * MB
    assert measured["previous_bytes"] > 10 * MB
    assert measured["input_bytes"] > 200_000
    # the history holds references, not the 10 MB (nor the 200 KB input)
    assert await history_bytes(client, created.pipeline_id) < 100_000
    history = await client.get_workflow_handle(created.pipeline_id).fetch_history()
    assert any(DRIVER_NAME.encode() in e.SerializeToString() for e in history.events)
    folders = [f for f in await payload_store.folders() if f.workflow_id == created.pipeline_id]
    assert len(folders) == 1
    assert await payload_store.newest_in(folders[0]) is not None


async def test_small_payloads_stay_inline(
    engine: TemporalPipelineEngine, client: Client, payload_store: PayloadStore
) -> None:
    created = await engine.create_pipeline(
        {"name": "small", "definition": s("t_blob", size=100)}, input={"a": 1}, start=True
    )
    status = await wait_for_state(engine, created.pipeline_id)
    assert status.state is PipelineState.SUCCEEDED
    history = await client.get_workflow_handle(created.pipeline_id).fetch_history()
    assert not any(DRIVER_NAME.encode() in e.SerializeToString() for e in history.events)
    assert created.pipeline_id not in {f.workflow_id for f in await payload_store.folders()}


async def test_a_result_over_the_limit_fails_its_stage_clearly(
    client: Client, registry: StepRegistry, task_queue: str
) -> None:
    worker = build_worker(client, task_queue=task_queue, registry=registry, max_result_bytes=MB)
    async with worker:
        engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
        created = await engine.create_pipeline(
            {"name": "too-big", "definition": s("t_blob", size=2 * MB)}, start=True
        )
        status = await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED)
    stage = status.stage("t_blob")
    assert stage.attempts == 1
    assert stage.error is not None and stage.error.type == "ResultTooLarge"
    assert "over the limit of 1048576" in stage.error.message


async def test_without_a_store_the_limit_is_temporals(
    temporal_server: TemporalDevServer, registry: StepRegistry, task_queue: str
) -> None:
    inline = await connect(temporal_server.address)
    async with build_worker(inline, task_queue=task_queue, registry=registry):
        engine = TemporalPipelineEngine(inline, task_queue=task_queue, registry=registry)
        created = await engine.create_pipeline(
            {"name": "inline", "definition": s("t_blob", size=INLINE_RESULT_LIMIT)}, start=True
        )
        status = await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED)
    error = status.stage("t_blob").error
    assert error is not None and error.type == "ResultTooLarge"


async def test_a_large_result_of_a_local_step_passes_by_reference(
    engine: TemporalPipelineEngine, client: Client
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "local-big",
            "definition": {
                "type": "chain",
                "steps": [
                    {"type": "step", "name": "t_blob", "kwargs": {"size": 3 * MB}, "local": True},
                    s("t_measure"),
                ],
            },
        },
        start=True,
    )
    status = await wait_for_state(engine, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result["previous_size"] == 3 * MB
    assert await history_bytes(client, created.pipeline_id) < 100_000


async def test_a_large_input_is_stored_once_not_once_per_activity(
    engine: TemporalPipelineEngine, payload_store: PayloadStore
) -> None:
    """Every step receives the pipeline input: it travels as a payload of its own, so the store
    keeps one copy (content-addressed), not one inside each of the group's activity inputs."""
    big_input = {"rows": ["r" * 100] * 2000}  # ~200 KB
    config = {"name": "shared", "definition": {"type": "group", "steps": [s("t_measure")] * 8}}
    created = await engine.create_pipeline(config, input=big_input, start=True)
    status = await wait_for_state(engine, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert all(r["input_bytes"] > 200_000 for r in status.result)  # every step saw all of it
    folder = Path(payload_store.location) / folder_path("default", created.pipeline_id)
    stored = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    # the workflow's own input (config and input) and the input once for all eight activities
    assert len(stored) <= 3, stored
    assert sum(stored) < 3 * 220_000, stored
