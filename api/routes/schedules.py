"""``/v1/schedules``: a tenant's pipeline on Temporal Schedules (cron or interval, in a time zone).

A schedule id is unique per tenant: the routes under ``/v1/schedules/{id}`` read the tenant from
``?tenant_id=`` (or the caller's only tenant). A schedule of another tenant answers the same 404
as one that does not exist.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller
from api.deps import CacheDep, ContextDep, Operator, PipelinesDep, Viewer, listed_tenants
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.routes._runs import resolve_run
from api.schemas import TENANT_ID
from pipeline_engine.errors import EngineUnavailable, InvalidInput, Problem, ScheduleNotFound
from pipeline_engine.schedules import Overlap, ScheduleDefinition, ScheduleStatus
from pipeline_engine.service.schedules import ScheduleEngine

router = APIRouter(prefix="/schedules", tags=["schedules"], responses=ERROR_RESPONSES)


async def get_schedules(ctx: ContextDep) -> ScheduleEngine:
    """The schedule engine (503 when the pipeline engine runs no schedules)."""
    if ctx.schedules is None:
        raise EngineUnavailable("this engine runs no schedules (they need Temporal)")
    return ctx.schedules


SchedulesDep = Annotated[ScheduleEngine, Depends(get_schedules)]
ScheduleIdPath = Annotated[str, Path(description="The schedule id (unique per tenant).")]
TenantQuery = Annotated[
    str | None,
    Query(pattern=TENANT_ID, description="The schedule's tenant (default: the caller's only one)."),
]


class SchedulePage(BaseModel):
    """The schedules of the caller's tenants."""

    items: list[ScheduleStatus] = Field(default_factory=list)
    next_page_token: str | None = None


class NoteBody(BaseModel):
    """``POST /v1/schedules/{id}/pause`` and ``…/unpause``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "holiday"}]})

    note: str = Field("", max_length=2000, description="Why (shown with the schedule).")


class BackfillBody(BaseModel):
    """``POST /v1/schedules/{id}/backfill``: run what was due between ``start`` and ``end``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}]
        },
    )

    start: datetime = Field(description="From (ISO 8601; UTC without a zone).")
    end: datetime = Field(description="To (ISO 8601; UTC without a zone).")
    overlap: Overlap = Field("allow_all", description="Overlap policy of the backfilled runs.")


def _tenant(caller: Caller, tenant_id: str | None, schedule_id: str) -> str:
    """The tenant a schedule route names (404 when not the caller's; 422 when it cannot tell)."""
    if not schedule_id or len(schedule_id) > 100:
        raise ScheduleNotFound("schedule not found")
    if tenant_id is None:
        own = [t for t in caller.tenants if t != "*"]
        if caller.all_tenants or len(own) != 1:
            raise InvalidInput(
                "name the schedule's tenant",
                problems=[Problem("query.tenant_id", "required: the caller has several tenants")],
            )
        return own[0]
    if not caller.can_access(tenant_id):
        raise ScheduleNotFound("schedule not found")
    return tenant_id


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@router.post(
    "",
    operation_id="create_schedule",
    status_code=201,
    response_model=ScheduleStatus,
    responses={
        200: {"model": ScheduleStatus, "description": "It exists with this definition"},
        **CONFLICT_RESPONSES,
    },
)
async def create_schedule(
    body: ScheduleDefinition,
    caller: Operator,
    cache: CacheDep,
    pipelines: PipelinesDep,
    schedules: SchedulesDep,
    ctx: ContextDep,
    response: Response,
) -> ScheduleStatus:
    """Start the tenant's pipeline on a cron expression or every ``interval_s`` seconds.

    Each run is a new pipeline named after the schedule and the time it was due; it runs the
    tenant's config as it is now (write the schedule again after a config change).
    """
    if not caller.can_access(body.tenant_id):
        raise ScheduleNotFound("schedule not found")
    run = await resolve_run(cache, pipelines, body.tenant_id, body.pipeline)
    status, created = await schedules.create_schedule(
        body, config=run.config, settings=run.settings, priority=run.priority
    )
    if not created:
        response.status_code = 200
    else:
        ctx.metrics.schedule_created()
    return status


@router.get("", operation_id="list_schedules", response_model=SchedulePage)
async def list_schedules(
    caller: Viewer,
    schedules: SchedulesDep,
    tenant_id: Annotated[str | None, Query(pattern=TENANT_ID, max_length=128)] = None,
) -> SchedulePage:
    """The schedules of the caller's tenants, with their next run times."""
    return SchedulePage(
        items=await schedules.list_schedules(tenant_ids=listed_tenants(caller, tenant_id))
    )


@router.get("/{schedule_id}", operation_id="get_schedule", response_model=ScheduleStatus)
async def get_schedule(
    schedule_id: ScheduleIdPath,
    caller: Viewer,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
) -> ScheduleStatus:
    """The schedule, its next run times and its recent runs (with their pipelines)."""
    return await schedules.get_schedule(_tenant(caller, tenant_id, schedule_id), schedule_id)


@router.delete(
    "/{schedule_id}",
    operation_id="delete_schedule",
    status_code=204,
    responses=CONFLICT_RESPONSES,
)
async def delete_schedule(
    schedule_id: ScheduleIdPath,
    caller: Operator,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
) -> Response:
    """Delete the schedule; the pipelines it started stay."""
    await schedules.delete_schedule(_tenant(caller, tenant_id, schedule_id), schedule_id)
    return Response(status_code=204)


@router.post(
    "/{schedule_id}/pause",
    operation_id="pause_schedule",
    response_model=ScheduleStatus,
    responses=CONFLICT_RESPONSES,
)
async def pause_schedule(
    schedule_id: ScheduleIdPath,
    caller: Operator,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
    body: NoteBody | None = None,
) -> ScheduleStatus:
    """No run starts until it is unpaused."""
    tenant = _tenant(caller, tenant_id, schedule_id)
    return await schedules.pause(tenant, schedule_id, (body or NoteBody()).note)


@router.post(
    "/{schedule_id}/unpause",
    operation_id="unpause_schedule",
    response_model=ScheduleStatus,
    responses=CONFLICT_RESPONSES,
)
async def unpause_schedule(
    schedule_id: ScheduleIdPath,
    caller: Operator,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
    body: NoteBody | None = None,
) -> ScheduleStatus:
    """Runs start again at their due times."""
    tenant = _tenant(caller, tenant_id, schedule_id)
    return await schedules.unpause(tenant, schedule_id, (body or NoteBody()).note)


@router.post(
    "/{schedule_id}/trigger",
    operation_id="trigger_schedule",
    response_model=ScheduleStatus,
    responses=CONFLICT_RESPONSES,
)
async def trigger_schedule(
    schedule_id: ScheduleIdPath,
    caller: Operator,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
) -> ScheduleStatus:
    """Start a run now (the schedule's overlap policy applies)."""
    return await schedules.trigger(_tenant(caller, tenant_id, schedule_id), schedule_id)


@router.post(
    "/{schedule_id}/backfill",
    operation_id="backfill_schedule",
    response_model=ScheduleStatus,
    responses=CONFLICT_RESPONSES,
)
async def backfill_schedule(
    schedule_id: ScheduleIdPath,
    body: BackfillBody,
    caller: Operator,
    schedules: SchedulesDep,
    tenant_id: TenantQuery = None,
) -> ScheduleStatus:
    """Start the runs that were due between ``start`` and ``end``, as if it had run then."""
    tenant = _tenant(caller, tenant_id, schedule_id)
    return await schedules.backfill(
        tenant, schedule_id, start=_utc(body.start), end=_utc(body.end), overlap=body.overlap
    )


__all__ = ["router"]
