"""``/v1/process``: run a tenant's configured pipeline (seed 2's single execution path)."""

from fastapi import APIRouter, Response

from api.deps import CacheDep, EngineDep, MetricsDep, Operator, check_tenant
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.schemas import PipelineRef, ProcessBody
from pipeline_engine._suggest import closest
from pipeline_engine.errors import TenantNotFound

router = APIRouter(tags=["process"], responses=ERROR_RESPONSES)


@router.post(
    "/process",
    operation_id="process",
    status_code=201,
    response_model=PipelineRef,
    responses={
        200: {
            "model": PipelineRef,
            "description": "Already created with these arguments: nothing new, `reused: true`",
        },
        **CONFLICT_RESPONSES,
    },
)
async def process(
    body: ProcessBody,
    caller: Operator,
    cache: CacheDep,
    engine: EngineDep,
    metrics: MetricsDep,
    response: Response,
) -> PipelineRef:
    """Create and start a pipeline from the tenant's config, its settings visible to every step.

    404 when the tenant has no config (or is not one of the caller's); 422 when its stored config
    is invalid (it is not served).
    """
    try:
        check_tenant(caller, body.tenant_id)
        cached = await cache.lookup(body.tenant_id)
    except TenantNotFound as exc:
        mine = [t for t in cache.tenant_ids() if caller.can_access(t)]
        near = closest(body.tenant_id, mine)
        raise TenantNotFound(
            exc.message, details=[{"did_you_mean": near}] if near else []
        ) from None
    created = await engine.create_pipeline(
        cached.config,
        input=body.input,
        tenant_id=body.tenant_id,
        idempotency_key=body.idempotency_key,
        settings=cached.settings,
        start=True,
        priority=cached.priority,
    )
    if created.created:
        metrics.pipeline_created(route="process", tenant_id=body.tenant_id)
    else:
        response.status_code = 200
    return PipelineRef(
        pipeline_id=created.pipeline_id, state=created.state.value, reused=not created.created
    )
