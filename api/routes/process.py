"""``/v1/process``: run a tenant's configured pipeline (seed 2's single execution path)."""

from fastapi import APIRouter, Response

from api.deps import CacheDep, EngineDep, MetricsDep, Operator, PipelinesDep, check_tenant
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.schemas import PipelineRef, ProcessBody
from api.tenants.references import pin_references
from pipeline_engine._suggest import closest
from pipeline_engine.errors import Conflict, InvalidInput, NotFound, Problem, TenantNotFound
from pipeline_engine.service.tenant_configs import no_tenant_config
from pipeline_engine.versions import DEFAULT_PIPELINE

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
    pipelines: PipelinesDep,
    engine: EngineDep,
    metrics: MetricsDep,
    response: Response,
) -> PipelineRef:
    """Create and start a pipeline from one of the tenant's named pipelines (default: the
    tenant config's), its settings visible to every step.

    The version run: ``version``; else the one ``alias`` points at; else the alias ``live``
    when it exists; else the latest (a canary share chosen by a hash of the input). 404 when
    the tenant has no such pipeline (or is not one of the caller's; or, for ``default``, has no
    config: deleting the config archives it); 409 when it is archived;
    422 when the stored version is invalid (it is not served).
    """
    if body.version is not None and body.alias is not None:
        raise InvalidInput(
            "give version or alias, not both",
            problems=[Problem("$.alias", "not allowed together with version")],
        )
    try:
        check_tenant(caller, body.tenant_id)
        tenant = await cache.tenant(body.tenant_id)
        try:
            stored = await pipelines.resolve(
                body.tenant_id,
                body.pipeline,
                version=body.version,
                alias=body.alias,
                input=body.input,
            )
        except (NotFound, Conflict):
            if tenant is None and body.pipeline == DEFAULT_PIPELINE:  # the seed's answer
                raise no_tenant_config(body.tenant_id) from None
            raise
    except TenantNotFound as exc:
        mine = [t for t in cache.tenant_ids() if caller.can_access(t)]
        near = closest(body.tenant_id, mine)
        raise TenantNotFound(
            exc.message, details=[{"did_you_mean": near}] if near else []
        ) from None
    settings, priority = tenant if tenant is not None else ({}, None)
    prepared = await pin_references(
        pipelines,
        cache,
        body.tenant_id,
        cache.prepare(body.tenant_id, stored),
        name=stored.name,
        version=stored.version,
    )
    created = await engine.create_pipeline(
        prepared,
        input=body.input,
        tenant_id=body.tenant_id,
        idempotency_key=body.idempotency_key,
        settings=settings,
        start=True,
        priority=priority,
    )
    if created.created:
        metrics.pipeline_created(route="process", tenant_id=body.tenant_id)
    else:
        response.status_code = 200
    return PipelineRef(
        pipeline_id=created.pipeline_id, state=created.state.value, reused=not created.created
    )
