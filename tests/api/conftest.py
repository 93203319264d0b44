"""The API under test: one uvicorn server on a free port for the session, with its own worker.

The server runs ``create_app`` exactly as production does (settings in, lazy Temporal client, SQLite
tenant store with its migrations), against the session's real Temporal dev server; a worker polls
the API's own task queue. Each test uses its own tenant ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.auth import mint_token
from pipeline_engine.steps import StepRegistry
from tests.api._support import SECRET, ApiServer, bearer, make_settings, start_uvicorn
from workflows.dev_server import TemporalDevServer, free_port
from workflows.payload_store import PayloadStore
from workflows.worker_factory import build_worker

TokenFactory = Callable[..., str]
UI_ORIGIN = "http://127.0.0.1:8233"


@pytest.fixture(scope="session")
def api_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('api') / 'tenants.db'}"


@pytest.fixture(scope="session")
async def api_server(
    temporal_server: TemporalDevServer,
    client: Client,
    registry: StepRegistry,
    api_db_url: str,
    calls_dir: Path,
    payload_store: PayloadStore,
) -> AsyncIterator[ApiServer]:
    """The API over a real socket, plus a worker on the API's task queue."""
    settings = make_settings(
        temporal_server,
        api_db_url,
        payload_store=payload_store.location,
        temporal_ui_url=UI_ORIGIN + "/namespaces/default",
    )
    app = create_app(settings, registry=registry)
    worker = build_worker(client, task_queue=settings.task_queue, registry=registry)
    async with worker:
        port = free_port()
        server, task = await start_uvicorn(app, port)
        try:
            yield ApiServer(f"http://127.0.0.1:{port}", settings, app)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


@pytest.fixture(scope="session")
async def http(api_server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def token() -> TokenFactory:
    """``token(roles, tenants, ttl_s=…)`` mints a bearer token signed with the test secret."""

    def make(roles: list[str], tenants: list[str], *, ttl_s: float = 600, sub: str = "test") -> str:
        return mint_token(SECRET, sub=sub, roles=roles, tenants=tenants, ttl_s=ttl_s)

    return make


@pytest.fixture
def tenant() -> str:
    return f"tn-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(token: TokenFactory) -> dict[str, str]:
    """Headers of an admin of every tenant."""
    return bearer(token(["admin"], ["*"]))
