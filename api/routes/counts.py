"""``/v1/pipeline-counts``: how many pipelines are in each state (the list's filters, from
:mod:`api.deps`)."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import EngineDep, Viewer, WhereDep, listed_tenants
from api.errors import ERROR_RESPONSES
from api.schemas import TENANT_ID, PipelineCounts

router = APIRouter(tags=["pipelines"], responses=ERROR_RESPONSES)


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


__all__ = ["router"]
