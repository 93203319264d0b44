"""``/v1/pipeline-counts`` and the list filters it shares with ``GET /v1/pipelines``."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Caller
from api.deps import EngineDep, Viewer, check_tenant
from api.errors import ERROR_RESPONSES
from api.schemas import TENANT_ID
from pipeline_engine.pages import PipelineWhere

router = APIRouter(tags=["pipelines"], responses=ERROR_RESPONSES)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def pipeline_where(
    name: Annotated[
        str | None, Query(max_length=200, description="Only pipelines whose name starts with this.")
    ] = None,
    started_after: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601; UTC without a zone).")
    ] = None,
    started_before: Annotated[
        datetime | None, Query(description="Created before (ISO 8601; UTC without a zone).")
    ] = None,
) -> PipelineWhere:
    """The list filters of the query string."""
    return PipelineWhere(
        name_prefix=name or None,
        started_after=_utc(started_after),
        started_before=_utc(started_before),
    )


WhereDep = Annotated[PipelineWhere, Depends(pipeline_where)]


def listed_tenants(caller: Caller, tenant_id: str | None) -> list[str] | None:
    """The tenants a listing covers: ``tenant_id`` (if the caller's) or all of the caller's."""
    if tenant_id is not None:
        check_tenant(caller, tenant_id)
        return [tenant_id]
    return caller.tenant_filter()


class PipelineCounts(BaseModel):
    """How many pipelines match, in total and per state."""

    total: int
    by_state: dict[str, int] = Field(description="State -> count (states with none are left out).")


@router.get("/pipeline-counts", operation_id="count_pipelines")
async def count_pipelines(
    caller: Viewer,
    engine: EngineDep,
    where: WhereDep,
    tenant_id: Annotated[str | None, Query(pattern=TENANT_ID, max_length=128)] = None,
) -> PipelineCounts:
    """How many of the caller's pipelines are in each state (same filters as the list)."""
    counts = await engine.count_pipelines(tenant_ids=listed_tenants(caller, tenant_id), where=where)
    return PipelineCounts(total=sum(counts.values()), by_state=counts)


__all__ = ["WhereDep", "listed_tenants", "router"]
