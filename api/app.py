"""``create_app``: wires settings to the engine, the tenant config store and the routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import TokenVerifier, check_secret
from api.body_limit import BodyLimitMiddleware
from api.console import install_console
from api.context import ApiContext, PayloadRefs
from api.errors import install_error_handlers
from api.ndjson import streamed_upload
from api.observability import ApiMetrics, RequestContextMiddleware, instrument
from api.query_guard import QueryGuardMiddleware
from api.rate_limits import RateLimits, check_limits
from api.routes import api_router, ops_router
from api.routes.graphs import GRAPH_PATH
from api.security_headers import SecurityHeadersMiddleware
from api.tenants import TenantConfigCache, TenantConfigStore
from api.tenants.migrate import upgrade
from pipeline_engine._version import __version__
from pipeline_engine.errors import PipelineError
from pipeline_engine.service import PipelineEngine
from pipeline_engine.service.batches import BatchEngine
from pipeline_engine.service.schedules import ScheduleEngine
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry, default_registry, load_step_modules

__all__ = ["create_app"]

_DESCRIPTION = """Runs multi-tenant pipelines of Python steps on Temporal.

Every route under `/v1` needs `Authorization: Bearer <JWT>` (mint one with
`pipeline-engine token`), except `GET /v1/schema/pipeline-config`: the JSON Schema of a pipeline
config is public, it holds no tenant data. Roles: viewer (reads), operator (creates, starts,
cancels, retries), approver (answers inputs), admin (tenant configs; all of the others).

Errors are `{"error", "message", "details"}`: 401 bad token, 403 role missing, 404 not among your
tenants, 409 wrong state or idempotency conflict, 413 body too large, 422 invalid (each problem
with its JSON path), 503 Temporal or the database unreachable (with `Retry-After`), 504 timeout.
Creating is idempotent: the same arguments give the same pipeline id (200 instead of 201).
"""

log = logging.getLogger("api")


def _default_registry(settings: Settings) -> StepRegistry:
    import pipeline_engine.builtin_steps  # noqa: F401  (registers the seed's steps)

    load_step_modules(settings.step_modules)
    return default_registry


async def _connect(settings: Settings, registry: StepRegistry) -> PipelineEngine:
    from workflows.engine import TemporalPipelineEngine  # the default engine; only wired here

    return await TemporalPipelineEngine.connect(settings, registry=registry)


def _volume(engine: PipelineEngine) -> tuple[BatchEngine | None, ScheduleEngine | None]:
    """Batches and schedules run on Temporal: a Temporal engine gets them (batches with its
    client's payload store)."""
    from workflows.batch_engine import TemporalBatchEngine
    from workflows.engine import TemporalPipelineEngine
    from workflows.payload_refs import store_of
    from workflows.schedule_engine import TemporalScheduleEngine

    if not isinstance(engine, TemporalPipelineEngine):
        return None, None
    store = store_of(engine.client.data_converter)
    return TemporalBatchEngine(engine, store), TemporalScheduleEngine(engine)


def _count_store_errors(engine: PipelineEngine, metrics: ApiMetrics) -> None:
    """The payload store's failures count in ``/metrics`` (a Temporal engine's store, if any)."""
    from workflows.engine import TemporalPipelineEngine
    from workflows.payload_refs import store_of

    if isinstance(engine, TemporalPipelineEngine):
        store = store_of(engine.client.data_converter)
        if store is not None:
            store.on_error = metrics.payload_store_error


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _payload_refs(settings: Settings) -> PayloadRefs | None:
    from workflows.payload_refs import ReferenceResolver  # the Temporal payload store
    from workflows.payload_store import store_from_settings

    store = store_from_settings(settings)
    if store is None:
        return None
    return ReferenceResolver(store, namespace=settings.temporal_namespace)


async def _prepare_database(store: TenantConfigStore, url: str, *, migrate: bool) -> None:
    if migrate:
        try:
            await asyncio.to_thread(upgrade, url)
        except Exception as exc:  # unreachable database: /readyz reports it, refresh retries
            log.error("tenant config migrations failed: %s", exc)


def create_app(
    settings: Settings | None = None,
    *,
    engine: PipelineEngine | None = None,
    registry: StepRegistry | None = None,
    store: TenantConfigStore | None = None,
    migrate: bool = True,
    batches: BatchEngine | None = None,
) -> FastAPI:
    """The FastAPI application: the REST front door of Pipeline Engine.

    Args:
        settings: Server settings (from ``PIPELINE_ENGINE_*`` variables when ``None``).
        engine: The pipeline engine (any :class:`PipelineEngine`); by default a Temporal one is
            connected (lazily) to ``settings.temporal_address``.
        registry: Steps configs are validated against; by default the built-in steps plus
            ``settings.step_modules``.
        store: The tenant config store; by default one on ``settings.database_url``.
        migrate: Apply the Alembic migrations of the store at start-up.
        batches: The batch engine; by default a Temporal engine's (none for another engine).

    Raises:
        RuntimeError: Outside dev, when the JWT secret is the default one or too short.
        ValueError: A rate limit or the rate limit storage URL is not valid.
    """
    settings = settings or Settings()
    check_secret(settings)
    check_limits(settings)
    registry = registry if registry is not None else _default_registry(settings)
    metrics = ApiMetrics(
        tenant_label=settings.metrics_tenant_label,
        task_queues=[settings.task_queue]
        + [q.strip() for q in settings.metrics_task_queues.split(",") if q.strip()],
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        the_store = store or TenantConfigStore(settings.database_url)
        await _prepare_database(the_store, settings.database_url, migrate=migrate and own_store)
        the_engine = engine or await _connect(settings, registry)
        _count_store_errors(the_engine, metrics)
        cache = TenantConfigCache(the_store, registry)
        try:
            await cache.load_all()
        except PipelineError as exc:
            log.error("tenant configs not loaded yet: %s", exc.message)
        temporal_batches, schedules = _volume(the_engine)
        limits = RateLimits(settings)
        app.state.ctx = ApiContext(
            settings=settings,
            engine=the_engine,
            registry=registry,
            store=the_store,
            cache=cache,
            metrics=metrics,
            tokens=TokenVerifier.from_settings(settings),
            payload_refs=_payload_refs(settings) if engine is None else None,
            batches=batches or temporal_batches,
            schedules=schedules,
            limits=limits,
            cpu=CapacityLimiter(settings.cpu_threads),
        )
        refresher = asyncio.create_task(cache.run_refresher(settings.config_refresh_s))
        heartbeat = asyncio.create_task(limits.run_heartbeat())
        try:
            yield
        finally:
            for task in (refresher, heartbeat):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await limits.aclose()
            if own_store:
                await the_store.close()

    app = FastAPI(
        title="Pipeline Engine",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from vendored assets by install_console
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(ops_router)
    install_console(app, settings)
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, streamed=streamed_upload
    )
    app.add_middleware(  # outside the general bound: a draft's graph is refused sooner
        BodyLimitMiddleware,
        max_body_bytes=settings.graph_max_body_bytes,
        streamed=lambda scope: scope.get("path") != GRAPH_PATH,
        setting="PIPELINE_ENGINE_GRAPH_MAX_BODY_BYTES",
    )
    app.add_middleware(QueryGuardMiddleware)
    if settings.temporal_ui_url:  # the Web UI calls the codec endpoint from its own origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[_origin(settings.temporal_ui_url)],
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type", "x-namespace"],
            allow_credentials=True,
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer, errors included
    instrument(app, metrics)
    return app
