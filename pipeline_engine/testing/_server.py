"""The real REST API served in-process: the local engine and an in-memory tenant store behind it.

Every route, rule and error the fake engines answer is the API's own; only the engine (pipelines
run in this process) and the tenant store (an in-memory SQLite database) differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from pipeline_engine._interpreter._local import BeforeAttempt
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.service.local_batches import LocalBatchEngine
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry

try:
    import sqlalchemy as sa
    from fastapi import FastAPI
    from sqlalchemy.pool import StaticPool

    from api.app import create_app
    from api.auth import mint_token
    from api.tenants import TenantConfigStore
    from api.tenants.table import metadata
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "pipeline_engine.testing serves the real REST API in-process and needs the server "
        f"extra: pip install 'pipeline-engine[server]' ({exc})"
    ) from exc

__all__ = ["FakeServer"]


class FakeServer:
    """The API app over a :class:`LocalPipelineEngine` (and its batches), started on first use.

    Args:
        registry: Where steps are looked up (and configs validated against).
        time_scale: Multiplies retry back-off waits.
        before_attempt: Awaited before every step attempt (the test controls).
    """

    def __init__(
        self, registry: StepRegistry, *, time_scale: float, before_attempt: BeforeAttempt
    ) -> None:
        secret = secrets.token_urlsafe(48)
        self.engine = LocalPipelineEngine(
            registry, time_scale=time_scale, before_attempt=before_attempt
        )
        database = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        metadata.create_all(database)
        self._store = TenantConfigStore("sqlite://", engine=database)
        self.batches = LocalBatchEngine(self.engine)
        settings = Settings(env="dev", jwt_secret=secret, config_refresh_s=3600.0, sse_ping_s=15.0)
        self.app: FastAPI = create_app(
            settings,
            engine=self.engine,
            registry=registry,
            store=self._store,
            migrate=False,
            batches=self.batches,
        )
        self.token = mint_token(
            secret, sub="fake", roles=["admin"], tenants=["*"], ttl_s=settings.jwt_max_ttl_s
        )
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None
        self._started: asyncio.Lock | None = None

    async def ready(self) -> None:
        """Run the app's start-up once (on the loop that serves it)."""
        if self._lifespan is not None:
            return
        self._started = self._started or asyncio.Lock()
        async with self._started:
            if self._lifespan is None:
                lifespan = self.app.router.lifespan_context(self.app)
                await lifespan.__aenter__()
                self._lifespan = lifespan

    async def stop(self) -> None:
        """Stop every batch and pipeline, then the app."""
        await self.batches.aclose()
        await self.engine.aclose()
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)
        await self._store.close()
