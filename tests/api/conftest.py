"""The API under test: one uvicorn server on a free port for the session, with its own worker.

The server runs ``create_app`` exactly as production does (settings in, lazy Temporal client, SQLite
tenant store with its migrations), against the session's real Temporal dev server; a worker polls
the API's own task queue. Each test uses its own tenant ids.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import Client

from api.app import create_app
from api.auth import mint_token
from api.tenants import TenantConfigStore
from api.tenants.migrate import downgrade, upgrade
from pipeline_engine._ids import IdRule
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
    worker = build_worker(
        client,
        task_queue=settings.task_queue,
        registry=registry,
        ids=IdRule.from_settings(settings),
    )
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


# ---------------------------------------------------------------- tenant store databases
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_reason() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL at 127.0.0.1:5432 unreachable: {exc}"
    return None


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL.

    Skipped, with the reason, when PostgreSQL is unreachable on a developer's machine; under CI
    (``CI=true``) an unreachable PostgreSQL fails the run instead, because CI must exercise it.
    """
    reason = _pg_reason()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    name = f"pe_api_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sub' / 'tenants.db'}"
    base: str = request.getfixturevalue("pg_database")
    # a fresh schema state per test: downgrade to nothing first
    downgrade(base, "base")
    return base


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[TenantConfigStore]:
    await asyncio.to_thread(upgrade, db_url)
    s = TenantConfigStore(db_url)
    yield s
    await s.close()
