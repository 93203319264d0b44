"""``/healthz``, ``/readyz``, ``/metrics``: liveness, readiness, Prometheus (no auth)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.client import Client

from api.context import ApiContext
from api.deps import ContextDep
from api.errors import translate_exception
from pipeline_engine.errors import AuthenticationError, EngineUnavailable

router = APIRouter(tags=["operations"])

_CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def _check(coro: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout=_CHECK_TIMEOUT_S)
    except Exception as exc:
        mapped = translate_exception(exc)
        reason = mapped.message if mapped is not None else type(exc).__name__
        if isinstance(exc, asyncio.TimeoutError):
            reason = "timed out"
        return {"ok": False, "error": reason}
    return {"ok": True}


@router.get(
    "/readyz",
    operation_id="readyz",
    responses={503: {"description": "Not ready (details in the body)"}},
)
async def readyz(ctx: ContextDep, request: Request) -> JSONResponse:
    """Readiness: Temporal reachable, database reachable, tenant configs loaded.

    Without a token each check says only ``ok``; a platform admin's token (``admin`` of every
    tenant) also gets the errors and the invalid tenant configs with their problems (they are
    not served, and do not make the API unready).
    """
    temporal, database = await asyncio.gather(
        _check(ctx.engine.check_health(timeout_s=_CHECK_TIMEOUT_S)),
        _check(ctx.store.ping()),
    )
    configs = ctx.cache.report()
    configs["ok"] = bool(configs["loaded"])
    ready = temporal["ok"] and database["ok"] and configs["ok"]
    checks = {"temporal": temporal, "database": database, "tenant_configs": configs}
    if not await _platform_admin(ctx, request):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _platform_admin(ctx: ApiContext, request: Request) -> bool:
    """Whether the request carries a valid platform admin's token (any other: no details)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        return (await ctx.tokens.averify(token.strip())).platform_admin
    except (AuthenticationError, EngineUnavailable):
        return False


@router.get("/metrics", operation_id="prometheus_metrics", response_class=Response)
async def metrics(ctx: ContextDep) -> Response:
    """Prometheus metrics of this API process, and the backlog of the task queues."""
    client = getattr(ctx.engine, "client", None)
    if isinstance(client, Client):  # a Temporal engine (the offline fake's has no queues)
        await ctx.metrics.queues.refresh(client)
    valid, invalid = ctx.cache.counts()
    ctx.metrics.tenant_configs.labels("true").set(valid)
    ctx.metrics.tenant_configs.labels("false").set(invalid)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
