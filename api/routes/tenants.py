"""``/v1/tenants/{tenant_id}/config``: the tenant's pipeline definition and settings (seed 2)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.cpu import off_loop
from api.deps import (
    Admin,
    CacheDep,
    ContextDep,
    IfMatch,
    PipelinesDep,
    RegistryDep,
    StoreDep,
    TenantPath,
    Viewer,
    check_tenant,
)
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.schemas import TenantConfig, TenantConfigBody
from api.tenants.references import written_references
from pipeline_engine.errors import InvalidInput, PermissionDenied, Problem
from pipeline_engine.service.named_pipelines import schema_version_of
from pipeline_engine.service.tenant_configs import no_tenant_config, validate_tenant_config
from pipeline_engine.versions import DEFAULT_PIPELINE

router = APIRouter(prefix="/tenants", tags=["tenants"], responses=ERROR_RESPONSES)


def _out(row: TenantConfig, response: Response) -> TenantConfig:
    response.headers["ETag"] = f'"{row.version}"'
    return row


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (``None``: none, or ``*``)."""
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidInput(
            "If-Match must carry a version number",
            problems=[Problem("header.If-Match", "expected a version number")],
        )
    return int(text)


def _kept_scheduling(
    stored: TenantConfig | None, body: TenantConfigBody
) -> tuple[int | None, float | None]:
    """A tenant admin's PUT keeps the stored ``priority`` and ``fairness_weight``.

    They order this tenant against the others, so only a platform admin sets them: a tenant
    admin may send them unchanged (or leave them out), anything else is 403 naming the field.
    """
    kept = (stored.priority, stored.fairness_weight) if stored is not None else (None, None)
    for field, sent, current in zip(
        ("priority", "fairness_weight"), (body.priority, body.fairness_weight), kept, strict=True
    ):
        if sent is not None and sent != current:
            raise PermissionDenied(
                f"only a platform admin (admin of every tenant) may set {field}",
                details=[{"path": f"$.{field}", "message": "set by the platform's operators"}],
            )
    return kept


@router.get("/{tenant_id}/config", operation_id="get_tenant_config", response_model=TenantConfig)
async def get_tenant_config(
    tenant_id: TenantPath, caller: Viewer, store: StoreDep, response: Response
) -> TenantConfig:
    """The tenant's stored config (as stored, even if it does not validate any more)."""
    check_tenant(caller, tenant_id)
    row = await store.get(tenant_id)
    if row is None:
        raise no_tenant_config(tenant_id)
    return _out(row, response)


@router.put(
    "/{tenant_id}/config",
    operation_id="put_tenant_config",
    response_model=TenantConfig,
    responses=CONFLICT_RESPONSES,
)
async def put_tenant_config(
    tenant_id: TenantPath,
    body: TenantConfigBody,
    caller: Admin,
    store: StoreDep,
    pipelines: PipelinesDep,
    cache: CacheDep,
    registry: RegistryDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> TenantConfig:
    """Create or replace the tenant's config; validated exactly like pipeline creation.

    Its sub-pipeline references are checked as for a new version of the ``default`` pipeline:
    each must name one of the tenant's pipelines, and none may come back to ``default``.

    ``priority`` and ``fairness_weight`` (optional) order the tenant's pipelines and steps when
    tasks back up in Temporal; omitted, they are unset (a PUT replaces the whole config).
    ``version`` in the body (or ``If-Match``) must equal the stored version, else 409.
    """
    check_tenant(caller, tenant_id)
    if body.tenant_id is not None and body.tenant_id != tenant_id:
        raise InvalidInput(
            "tenant_id in the body differs from the path",
            problems=[Problem("$.tenant_id", f"must equal the path's tenant {tenant_id!r}")],
        )
    expected = body.version if body.version is not None else parse_if_match(if_match)
    settings = body.settings or {}
    priority, fairness_weight = body.priority, body.fairness_weight
    if not caller.platform_admin:
        priority, fairness_weight = _kept_scheduling(await store.get(tenant_id), body)
    await off_loop(  # a large definition would hold the event loop for seconds
        ctx.cpu,
        validate_tenant_config,
        tenant_id,
        body.pipeline_definition,
        settings,
        registry=registry,
        priority=priority,
        fairness_weight=fairness_weight,
    )
    definition = body.pipeline_definition
    version = schema_version_of("pipeline_definition", definition)
    await written_references(
        pipelines, cache, tenant_id, DEFAULT_PIPELINE, "pipeline_definition", definition, version
    )
    row = await store.put(
        tenant_id,
        pipeline_definition=body.pipeline_definition,
        settings=settings,
        expected_version=expected,
        priority=priority,
        fairness_weight=fairness_weight,
        actor=caller.sub,
    )
    cache.apply(row)
    return _out(row, response)


@router.delete(
    "/{tenant_id}/config",
    operation_id="delete_tenant_config",
    status_code=204,
    responses=CONFLICT_RESPONSES,
)
async def delete_tenant_config(
    tenant_id: TenantPath,
    caller: Admin,
    store: StoreDep,
    cache: CacheDep,
    version: Annotated[int | None, Query(ge=0, description="Expected current version.")] = None,
    if_match: IfMatch = None,
) -> Response:
    """Delete the tenant's config."""
    check_tenant(caller, tenant_id)
    expected = version if version is not None else parse_if_match(if_match)
    await store.delete(tenant_id, expected_version=expected, actor=caller.sub)
    cache.forget(tenant_id)
    return Response(status_code=204)
