"""The payload store's two backends (a directory, and S3 on a real moto server) and its driver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.s3_server import S3Server
from tests.support.waiting import wait_for_state
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import PayloadStoreDriver
from workflows.payload_store import (
    Folder,
    PayloadMissing,
    PayloadStore,
    PayloadStoreUnavailable,
    open_payload_store,
)
from workflows.worker_factory import build_worker, connect


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PayloadStore:
    if request.param == "directory":
        return open_payload_store(str(tmp_path / "payloads"))
    s3: S3Server = request.getfixturevalue("s3_server")
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    return open_payload_store(f"s3://{bucket}/pipeline-payloads", s3=s3.options)


async def test_a_missing_bucket_is_a_clear_error(s3_server: S3Server) -> None:
    store = open_payload_store("s3://no-such-bucket/p", s3=s3_server.options)
    with pytest.raises(
        PayloadStoreUnavailable, match="payload store s3://no-such-bucket/p is unre"
    ):
        await store.check()


async def test_put_get_exists(store: PayloadStore) -> None:
    await store.check()
    key = "default/pl-1/abc"
    assert not await store.exists(key)
    await store.put(key, b"\x00hello" * 1000)
    assert await store.exists(key)
    assert await store.get(key) == b"\x00hello" * 1000


async def test_a_missing_payload_is_a_clear_error(store: PayloadStore) -> None:
    with pytest.raises(PayloadMissing, match="default/pl-x/nope"):
        await store.get("default/pl-x/nope")


async def test_folders_are_listed_and_dropped_whole(store: PayloadStore) -> None:
    driver = PayloadStoreDriver(store)
    one = StorageDriverStoreContext(StorageDriverWorkflowInfo(namespace="ns", id="pl-a/shard-1"))
    two = StorageDriverStoreContext(StorageDriverWorkflowInfo(namespace="ns", id="pl-b"))
    await driver.store(one, [Payload(data=b"1"), Payload(data=b"2")])
    await driver.store(two, [Payload(data=b"3")])
    folders = set(await store.folders())
    assert folders == {Folder("ns", "pl-a/shard-1"), Folder("ns", "pl-b")}
    assert await store.newest_in(Folder("ns", "pl-b")) is not None
    assert await store.delete_folder(Folder("ns", "pl-a/shard-1")) == 2
    assert set(await store.folders()) == {Folder("ns", "pl-b")}
    assert await store.newest_in(Folder("ns", "pl-a/shard-1")) is None


async def test_driver_round_trip_dedups_and_checks_the_hash(store: PayloadStore) -> None:
    driver = PayloadStoreDriver(store)
    ctx = StorageDriverStoreContext(StorageDriverWorkflowInfo(namespace="default", id="pl-r"))
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"v" * 50_000 + b'"')
    first, again = await driver.store(ctx, [payload, payload])
    assert first == again
    (back,) = await driver.retrieve(StorageDriverRetrieveContext(), [first])
    assert back == payload
    forged = StorageDriverClaim({**first.claim_data, "sha256": "0" * 64})
    with pytest.raises(ValueError, match="not a payload-store reference"):  # not its key
        await driver.retrieve(StorageDriverRetrieveContext(), [forged])
    await store.put(first.claim_data["key"], b"tampered")  # the object changed under its key
    with pytest.raises(ValueError, match="checksum"):
        await driver.retrieve(StorageDriverRetrieveContext(), [first])


@pytest.fixture
async def s3_engine(
    temporal_server: TemporalDevServer, s3_server: S3Server, registry: StepRegistry, task_queue: str
) -> AsyncIterator[tuple[TemporalPipelineEngine, PayloadStore]]:
    bucket = f"e2e-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    store = open_payload_store(f"s3://{bucket}/payloads", s3=s3_server.options)
    client = await connect(temporal_server.address, payload_store=store)
    async with build_worker(client, task_queue=task_queue, registry=registry):
        yield TemporalPipelineEngine(client, task_queue=task_queue, registry=registry), store


async def test_a_pipeline_runs_with_its_payloads_in_s3(
    s3_engine: tuple[TemporalPipelineEngine, PayloadStore],
) -> None:
    engine, store = s3_engine
    created = await engine.create_pipeline(
        {
            "name": "s3",
            "definition": {
                "type": "chain",
                "steps": [
                    {"type": "step", "name": "t_blob", "kwargs": {"size": 2_000_000}},
                    {"type": "step", "name": "t_measure"},
                ],
            },
        },
        input={"big": "i" * 100_000},
        start=True,
    )
    status = await wait_for_state(engine, created.pipeline_id, timeout=120)
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result["previous_size"] == 2_000_000
    assert status.result["input_bytes"] > 100_000
    assert Folder("default", created.pipeline_id) in await store.folders()
