"""``/v1/tenants/{t}/pipelines``: named pipelines, their versions, diffs, aliases; the audit log.

Versions are immutable: a write makes the next one (or none, for a document equal to
the latest), a rollback makes one equal to an older one, and nothing here edits the audit log.
"""

from typing import Annotated, Any

import jsonpatch
from fastapi import APIRouter, Path, Query, Response

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
from api.routes.tenants import parse_if_match
from api.schemas import ALIAS_NAME, PIPELINE_NAME, AliasBody, PipelineVersionBody, RollbackBody
from api.tenants.references import written_references
from api.tenants.versions import NewVersion
from pipeline_engine.errors import InvalidInput, Problem
from pipeline_engine.service.named_pipelines import validate_document
from pipeline_engine.versions import (
    DEFAULT_PIPELINE,
    MAX_VERSION,
    AuditPage,
    DocumentField,
    PipelineAlias,
    PipelineList,
    PipelineVersion,
    StoredPipeline,
    VersionPage,
)

router = APIRouter(prefix="/tenants", tags=["named pipelines"], responses=ERROR_RESPONSES)

NamePath = Annotated[str, Path(pattern=PIPELINE_NAME, description="The pipeline's name.")]
AliasPath = Annotated[str, Path(pattern=ALIAS_NAME, description="The alias (e.g. `live`).")]
PageSize = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
PageToken = Annotated[
    str | None,
    Query(pattern=r"^[1-9][0-9]{0,9}$", description="The next_page_token of the page before."),
]
_WRITTEN = {
    201: {"model": PipelineVersion, "description": "A new version"},
    200: {"model": PipelineVersion, "description": "Equal to the latest version: none made"},
    **CONFLICT_RESPONSES,
}


def _document(body: PipelineVersionBody) -> tuple[DocumentField, Any]:
    given = [f for f in ("pipeline_definition", "config") if getattr(body, f) is not None]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of pipeline_definition and config",
            problems=[Problem("$", "exactly one of pipeline_definition, config is required")],
        )
    field: DocumentField = "config" if given == ["config"] else "pipeline_definition"
    return field, getattr(body, field)


async def _written(
    stored: StoredPipeline,
    created: bool,
    response: Response,
    store: StoreDep,
    cache: CacheDep,
) -> PipelineVersion:
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{stored.version}"'
    if created and stored.name == DEFAULT_PIPELINE:  # the tenant config changed with it
        row = await store.get(stored.tenant_id)
        if row is not None:
            cache.apply(row)
    return stored.metadata()


@router.put(
    "/{tenant_id}/pipelines/{name}",
    operation_id="put_pipeline_version",
    status_code=201,
    response_model=PipelineVersion,
    responses=_WRITTEN,
)
async def put_pipeline_version(
    tenant_id: TenantPath,
    name: NamePath,
    body: PipelineVersionBody,
    caller: Admin,
    pipelines: PipelinesDep,
    store: StoreDep,
    cache: CacheDep,
    registry: RegistryDep,
    response: Response,
    ctx: ContextDep,
    if_match: IfMatch = None,
) -> PipelineVersion:
    """Write the pipeline's next version (validated exactly like pipeline creation).

    A document equal to the latest version answers 200 with that version and makes none.
    ``If-Match: <version>`` must name the latest version (``0``: the name must be new), else 409.
    """
    check_tenant(caller, tenant_id)
    field, document = _document(body)
    schema_version = await off_loop(
        ctx.cpu, validate_document, tenant_id, name, field, document, registry=registry
    )
    await written_references(pipelines, cache, tenant_id, name, field, document, schema_version)
    new = NewVersion(field, document, schema_version, body.message)
    stored, created = await pipelines.write(
        tenant_id, name, new, actor=caller.sub, expected=parse_if_match(if_match)
    )
    return await _written(stored, created, response, store, cache)


@router.get("/{tenant_id}/pipelines", operation_id="list_named_pipelines")
async def list_named_pipelines(
    tenant_id: TenantPath, caller: Viewer, pipelines: PipelinesDep
) -> PipelineList:
    """The tenant's pipelines: names, latest versions, aliases (archived ones marked)."""
    check_tenant(caller, tenant_id)
    return PipelineList(items=await pipelines.names(tenant_id))


@router.get("/{tenant_id}/pipelines/{name}", operation_id="get_pipeline_version")
async def get_pipeline_version(
    tenant_id: TenantPath,
    name: NamePath,
    caller: Viewer,
    pipelines: PipelinesDep,
    response: Response,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Default: the latest.")
    ] = None,
) -> StoredPipeline:
    """One version with its document, in the field it was written with."""
    check_tenant(caller, tenant_id)
    stored = await pipelines.get(tenant_id, name, version)
    response.headers["ETag"] = f'"{stored.version}"'
    return stored


@router.get("/{tenant_id}/pipelines/{name}/versions", operation_id="list_pipeline_versions")
async def list_pipeline_versions(
    tenant_id: TenantPath,
    name: NamePath,
    caller: Viewer,
    pipelines: PipelinesDep,
    page_size: PageSize = 50,
    page_token: PageToken = None,
) -> VersionPage:
    """Version metadata, newest first, by pages."""
    check_tenant(caller, tenant_id)
    before = int(page_token) if page_token is not None else None
    items, cursor = await pipelines.versions(tenant_id, name, limit=page_size, before=before)
    return VersionPage(items=items, next_page_token=str(cursor) if cursor is not None else None)


@router.get("/{tenant_id}/pipelines/{name}/diff", operation_id="diff_pipeline_versions")
async def diff_pipeline_versions(
    tenant_id: TenantPath,
    name: NamePath,
    caller: Viewer,
    pipelines: PipelinesDep,
    from_version: Annotated[
        int, Query(alias="from", ge=1, le=MAX_VERSION, description="The older version.")
    ],
    to_version: Annotated[
        int, Query(alias="to", ge=1, le=MAX_VERSION, description="The newer version.")
    ],
) -> list[dict[str, Any]]:
    """The RFC 6902 JSON Patch that turns version ``from``'s document into version ``to``'s."""
    check_tenant(caller, tenant_id)
    old = await pipelines.get(tenant_id, name, from_version)
    new = await pipelines.get(tenant_id, name, to_version)
    patch: list[dict[str, Any]] = jsonpatch.make_patch(old.document, new.document).patch
    return patch


@router.post(
    "/{tenant_id}/pipelines/{name}/rollback",
    operation_id="rollback_pipeline",
    status_code=201,
    response_model=PipelineVersion,
    responses=_WRITTEN,
)
async def rollback_pipeline(
    tenant_id: TenantPath,
    name: NamePath,
    body: RollbackBody,
    caller: Admin,
    pipelines: PipelinesDep,
    store: StoreDep,
    cache: CacheDep,
    response: Response,
) -> PipelineVersion:
    """A new version equal to version ``to`` (same digest); none when the latest already is."""
    check_tenant(caller, tenant_id)
    stored, created = await pipelines.rollback(
        tenant_id, name, body.to, actor=caller.sub, message=body.message
    )
    return await _written(stored, created, response, store, cache)


@router.put(
    "/{tenant_id}/pipelines/{name}/aliases/{alias}",
    operation_id="put_pipeline_alias",
    response_model=PipelineAlias,
)
async def put_pipeline_alias(
    tenant_id: TenantPath,
    name: NamePath,
    alias: AliasPath,
    body: AliasBody,
    caller: Admin,
    pipelines: PipelinesDep,
) -> PipelineAlias:
    """Point an alias at a version, optionally sending a share of runs to a canary version."""
    check_tenant(caller, tenant_id)
    return await pipelines.set_alias(
        tenant_id,
        name,
        alias,
        version=body.version,
        canary_version=body.canary_version,
        canary_percent=body.canary_percent,
        actor=caller.sub,
    )


@router.delete("/{tenant_id}/pipelines/{name}", operation_id="archive_pipeline", status_code=204)
async def archive_pipeline(
    tenant_id: TenantPath, name: NamePath, caller: Admin, pipelines: PipelinesDep
) -> Response:
    """Archive: the versions stay readable, the name can no longer be run (409)."""
    check_tenant(caller, tenant_id)
    await pipelines.archive(tenant_id, name, actor=caller.sub)
    return Response(status_code=204)


@router.get("/{tenant_id}/audit", operation_id="get_tenant_audit")
async def get_tenant_audit(
    tenant_id: TenantPath,
    caller: Admin,
    pipelines: PipelinesDep,
    page_size: PageSize = 100,
    page_token: PageToken = None,
    pipeline: Annotated[
        str | None, Query(pattern=PIPELINE_NAME, description="Only this pipeline's records.")
    ] = None,
) -> AuditPage:
    """Who changed what, newest first: every write, rollback, alias change, archive and
    tenant-config write (read-only)."""
    check_tenant(caller, tenant_id)
    before = int(page_token) if page_token is not None else None
    items, cursor = await pipelines.audit(
        tenant_id, limit=page_size, before=before, pipeline=pipeline
    )
    return AuditPage(items=items, next_page_token=str(cursor) if cursor is not None else None)
