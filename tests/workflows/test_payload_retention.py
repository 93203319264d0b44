"""The retention sweep drops the payloads of ended pipelines only, and only once they expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

from pipeline_engine.errors import NotFound
from pipeline_engine.states import PipelineState
from tests.support.waiting import wait_for_state, wait_until
from workflows.engine import TemporalPipelineEngine
from workflows.messages import STORE_LIMITS
from workflows.payload_refs import PayloadStoreDriver
from workflows.payload_retention import run_payload_sweeper, sweep_payloads
from workflows.payload_store import UNSCOPED, Folder, PayloadStore, open_payload_store

BIG = 100_000
BIG_INPUT = {"blob": "z" * BIG}
WAIT_FOR_INPUT = {
    "type": "input",
    "id": "approval",
    "schema": {"type": "object"},
}


async def test_ended_pipelines_lose_their_payloads_after_the_retention(
    engine: TemporalPipelineEngine, client: Client, payload_store: PayloadStore
) -> None:
    done = await engine.create_pipeline(
        {"name": "done", "definition": {"type": "step", "name": "t_blob", "kwargs": {"size": 5}}},
        input=BIG_INPUT,
        start=True,
    )
    waiting = await engine.create_pipeline(
        {"name": "open", "definition": WAIT_FOR_INPUT}, input=BIG_INPUT, start=True
    )
    await wait_for_state(engine, done.pipeline_id)
    await wait_for_state(engine, waiting.pipeline_id, PipelineState.WAITING_INPUT)
    mine = {Folder("default", done.pipeline_id), Folder("default", waiting.pipeline_id)}
    assert mine <= set(await payload_store.folders())

    # within the retention nothing goes
    await sweep_payloads(payload_store, client, retention_s=3600)
    assert mine <= set(await payload_store.folders())

    # past it the ended pipeline's payloads go, the open pipeline's stay however old they are
    later = datetime.now(UTC) + timedelta(days=30)
    report = await sweep_payloads(payload_store, client, retention_s=3600, now=later)
    folders = set(await payload_store.folders())
    assert Folder("default", done.pipeline_id) not in folders
    assert Folder("default", waiting.pipeline_id) in folders
    assert report.deleted_folders >= 1 and report.deleted_payloads >= 1

    await engine.submit_input(waiting.pipeline_id, {}, "ana")
    await wait_for_state(engine, waiting.pipeline_id)
    await sweep_payloads(payload_store, client, retention_s=3600, now=later)
    assert Folder("default", waiting.pipeline_id) not in set(await payload_store.folders())


async def test_reading_a_pipeline_whose_payloads_were_swept_is_a_clear_error(
    engine: TemporalPipelineEngine, client: Client, payload_store: PayloadStore
) -> None:
    created = await engine.create_pipeline(
        {
            "name": "swept",
            "definition": {"type": "step", "name": "t_blob", "kwargs": {"size": 10**5}},
        },
        start=True,
    )
    await wait_for_state(engine, created.pipeline_id)
    later = datetime.now(UTC) + timedelta(days=30)
    await sweep_payloads(payload_store, client, retention_s=3600, now=later)
    fresh = TemporalPipelineEngine(client)  # no cached final status
    with pytest.raises(NotFound, match="deleted after their retention") as info:
        await fresh.get_pipeline(created.pipeline_id)
    assert info.value.http_status == 404  # not 409
    assert created.pipeline_id not in info.value.message  # no store key, no location
    assert payload_store.location not in info.value.message


async def test_payloads_of_a_workflow_temporal_does_not_know_go_only_once_old(
    client: Client, tmp_path: Path
) -> None:
    store = open_payload_store(str(tmp_path))
    ctx = StorageDriverStoreContext(StorageDriverWorkflowInfo(namespace="default", id="pl-ghost"))
    await PayloadStoreDriver(store).store(ctx, [Payload(data=b"input of a starting pipeline")])
    await sweep_payloads(store, client, retention_s=60)
    assert await store.folders() == [Folder("default", "pl-ghost")]
    await sweep_payloads(store, client, retention_s=60, now=datetime.now(UTC) + timedelta(hours=1))
    assert await store.folders() == []


async def test_payloads_stored_outside_any_workflow_go_once_old(
    client: Client, tmp_path: Path
) -> None:
    store = open_payload_store(str(tmp_path))
    await PayloadStoreDriver(store).store(StorageDriverStoreContext(), [Payload(data=b"?")])
    assert await store.folders() == [Folder(UNSCOPED, UNSCOPED)]
    await sweep_payloads(store, client, retention_s=60)
    assert await store.folders() == [Folder(UNSCOPED, UNSCOPED)]
    await sweep_payloads(store, client, retention_s=60, now=datetime.now(UTC) + timedelta(hours=1))
    assert await store.folders() == []


async def test_the_sweeper_runs_periodically(client: Client, tmp_path: Path) -> None:
    store = open_payload_store(str(tmp_path))
    ctx = StorageDriverStoreContext(StorageDriverWorkflowInfo(namespace="default", id="pl-gone"))
    await PayloadStoreDriver(store).store(ctx, [Payload(data=b"x")])
    sweeper = asyncio.create_task(run_payload_sweeper(store, client, retention_s=0, interval_s=0.1))
    try:

        async def swept() -> bool:
            return await store.folders() == []

        await wait_until(swept, timeout=30)
    finally:
        sweeper.cancel()


async def test_shard_payloads_stay_while_their_pipeline_is_open(
    engine: TemporalPipelineEngine, client: Client, payload_store: PayloadStore, task_queue: str
) -> None:
    """Shards end before their pipeline, whose history refers to what they reported: their
    payloads go with the pipeline's, not before."""
    sharded = TemporalPipelineEngine(
        client,
        task_queue=task_queue,
        limits=STORE_LIMITS.model_copy(update={"shard_width": 4, "progress_every_s": 0.5}),
    )
    blobs = [{"type": "step", "name": "t_blob", "kwargs": {"size": 40_000 + i}} for i in range(9)]
    config = {
        "name": "sharded-open",
        "definition": {
            "type": "chain",
            "steps": [{"type": "group", "steps": blobs}, WAIT_FOR_INPUT],
        },
    }
    created = await sharded.create_pipeline(config, start=True)
    pid = created.pipeline_id
    await wait_for_state(sharded, pid, PipelineState.WAITING_INPUT, timeout=60)

    def shard_folders(folders: list[Folder]) -> set[Folder]:
        return {f for f in folders if f.workflow_id.startswith(f"{pid}~")}

    assert len(shard_folders(await payload_store.folders())) == 3  # the shards' own results
    later = datetime.now(UTC) + timedelta(days=30)
    await sweep_payloads(payload_store, client, retention_s=3600, now=later)
    assert len(shard_folders(await payload_store.folders())) == 3  # the pipeline is still open
    await sharded.submit_input(pid, {}, "ana")
    status = await wait_for_state(sharded, pid)
    assert status.state is PipelineState.SUCCEEDED
    await sweep_payloads(payload_store, client, retention_s=3600, now=later)
    assert not shard_folders(await payload_store.folders())
