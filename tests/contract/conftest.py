"""Backends of the contract suite: the in-memory fake, and the live stack through the real client.

``backend`` is parametrised over ``fake`` (:class:`AsyncFakePipelineEngine`: the real client over
an in-memory transport serving the real API app) and ``live`` (an
:class:`AsyncPipelineClient` talking HTTP to the real API app under uvicorn on a free 127.0.0.1
port, over the session's Temporal dev server, with a worker on its own task queue and a token
minted by the API's auth helper). The live stack runs on its own thread and event loop, so tests
may use the synchronous client too. Each test gets its own tenant.

Both halves run the same client code. So that the fake half exercises the client's retries and
stream resumption too, its first request meets a transient 503 and its first stream is cut after
two messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

import tests.contract.steps_contract  # noqa: F401  (registers the c_* steps)
from pipeline_engine import AsyncPipelineClient, PipelineClient
from pipeline_engine.steps import StepRegistry
from pipeline_engine.testing import AsyncFakePipelineEngine, FakePipelineEngine
from tests.support.live_stack import LiveStack

AsyncEngine = AsyncPipelineClient | AsyncFakePipelineEngine
SyncEngine = PipelineClient | FakePipelineEngine


@dataclass
class Backend:
    """One implementation of the SDK's contract, as a test sees it."""

    name: str
    engine: AsyncEngine
    tenant_id: str
    sync_engine: Callable[[], SyncEngine]


Fake = TypeVar("Fake", AsyncFakePipelineEngine, FakePipelineEngine)


def with_faults(fake: Fake) -> Fake:
    """The fake with a transient 503 on its first request and its first stream cut short."""
    fake.fail_requests(times=1)
    fake.drop_streams(after_messages=2, times=1)
    return fake


@pytest.fixture(params=["fake", "live"])
async def backend(request: pytest.FixtureRequest, registry: StepRegistry) -> AsyncIterator[Backend]:
    tenant = f"c-{uuid.uuid4().hex[:10]}"
    if request.param == "fake":
        fake = with_faults(AsyncFakePipelineEngine(registry, time_scale=1.0, tenant_id=tenant))

        def sync_fake() -> SyncEngine:
            return with_faults(FakePipelineEngine(registry, time_scale=1.0, tenant_id=tenant))

        async with fake:
            yield Backend("fake", fake, tenant, sync_fake)
        return
    stack: LiveStack = request.getfixturevalue("live_stack")

    def sync_client() -> SyncEngine:
        return PipelineClient(stack.base_url, token=stack.token, tenant_id=tenant)

    async with AsyncPipelineClient(stack.base_url, token=stack.token, tenant_id=tenant) as client:
        yield Backend("live", client, tenant, sync_client)
