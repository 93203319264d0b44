"""What a batch, a schedule or a trigger runs: one of the tenant's named pipelines, resolved once.

The same resolution as ``/v1/process`` (``version``, else the alias ``live``, else the latest),
without a canary choice per input: a batch, a schedule or a trigger runs one version throughout.
"""

from dataclasses import dataclass
from typing import Any

from api.tenants import TenantConfigCache
from api.tenants.pipelines import PipelineStore
from api.tenants.references import pin_references
from pipeline_engine.errors import Conflict, NotFound
from pipeline_engine.service import PreparedConfig, TaskPriority
from pipeline_engine.service.tenant_configs import no_tenant_config
from pipeline_engine.versions import DEFAULT_PIPELINE

__all__ = ["ResolvedRun", "resolve_run"]


@dataclass(frozen=True)
class ResolvedRun:
    """A pipeline version ready to run, with the tenant's settings and priority."""

    name: str
    config: PreparedConfig
    settings: dict[str, Any]
    priority: TaskPriority | None


async def resolve_run(
    cache: TenantConfigCache,
    pipelines: PipelineStore,
    tenant_id: str,
    name: str | None,
    *,
    version: int | None = None,
) -> ResolvedRun:
    """The version of ``name`` (default ``default``) a new run gets.

    Raises:
        NotFound: No such tenant, pipeline or version.
        Conflict: The pipeline is archived.
    """
    name = name or DEFAULT_PIPELINE
    tenant = await cache.tenant(tenant_id)
    try:
        stored = await pipelines.resolve(tenant_id, name, version=version)
    except (NotFound, Conflict):
        if tenant is None and name == DEFAULT_PIPELINE:
            raise no_tenant_config(tenant_id) from None
        raise
    settings, priority = tenant if tenant is not None else ({}, None)
    prepared = await pin_references(
        pipelines,
        cache,
        tenant_id,
        cache.prepare(tenant_id, stored),
        name=stored.name,
        version=stored.version,
    )
    return ResolvedRun(name, prepared, settings, priority)
