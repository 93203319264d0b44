"""``PipelineStore``: a tenant's named pipelines, asynchronously (each call one transaction).

It shares the :class:`TenantConfigStore`'s engine: the ``default`` pipeline is the tenant
config's, so writing a version of it also counts as a write of the config row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from api.tenants.aliases import resolve, set_alias
from api.tenants.audit import audit_page
from api.tenants.store import TenantConfigStore, bump_version
from api.tenants.versions import (
    NewVersion,
    archive,
    get_version,
    head_of,
    list_pipelines,
    list_versions,
    no_pipeline,
    write_version,
)
from pipeline_engine.errors import Conflict
from pipeline_engine.versions import (
    DEFAULT_PIPELINE,
    AuditRecord,
    NamedPipeline,
    PipelineAlias,
    PipelineVersion,
    StoredPipeline,
)

__all__ = ["PipelineStore"]


def _now() -> datetime:
    return datetime.now(UTC)


class PipelineStore:
    """Versions, aliases, archive and audit of named pipelines.

    Args:
        store: The tenant config store whose database (and thread pool use) it shares.
    """

    def __init__(self, store: TenantConfigStore) -> None:
        self._store = store
        self._engine = store.engine

    async def write(
        self,
        tenant_id: str,
        name: str,
        new: NewVersion,
        *,
        actor: str | None,
        expected: int | None = None,
        action: str = "pipeline.version_created",
    ) -> tuple[StoredPipeline, bool]:
        """Store the pipeline's next version unless it equals the latest; ``(version, created)``.

        Raises:
            Conflict: ``expected`` is not the latest version (a lost update).
        """

        def write() -> tuple[StoredPipeline, bool]:
            for _ in range(3):
                try:
                    with self._engine.begin() as conn:
                        at = _now()
                        out = write_version(
                            conn,
                            tenant_id,
                            name,
                            new,
                            actor=actor,
                            at=at,
                            expected=expected,
                            action=action,
                        )
                        if out[1] and name == DEFAULT_PIPELINE:
                            bump_version(conn, tenant_id, at)
                        return out
                except IntegrityError:
                    continue  # a concurrent writer took the number: read again
            raise Conflict(f"pipeline {name!r} changed concurrently; retry")

        return await self._store.run(write)

    async def rollback(
        self, tenant_id: str, name: str, to: int, *, actor: str | None, message: str | None
    ) -> tuple[StoredPipeline, bool]:
        """A new version equal to version ``to`` (none when the latest already is)."""

        def read() -> StoredPipeline:
            with self._engine.connect() as conn:
                return get_version(conn, tenant_id, name, to)

        source = await self._store.run(read)
        new = NewVersion(
            source.field,
            source.document,
            source.schema_version,
            message or f"rolled back to version {to}",
        )
        return await self.write(tenant_id, name, new, actor=actor, action="pipeline.rolled_back")

    async def get(self, tenant_id: str, name: str, version: int | None = None) -> StoredPipeline:
        """One version with its document (default: the latest); ``NotFound`` when missing."""

        def get() -> StoredPipeline:
            with self._engine.connect() as conn:
                return get_version(conn, tenant_id, name, version)

        return await self._store.run(get)

    async def versions(
        self, tenant_id: str, name: str, *, limit: int, before: int | None
    ) -> tuple[list[PipelineVersion], int | None]:
        """Version metadata newest first and the next page's cursor."""

        def versions() -> tuple[list[PipelineVersion], int | None]:
            with self._engine.connect() as conn:
                return list_versions(conn, tenant_id, name, limit=limit, before=before)

        return await self._store.run(versions)

    async def names(self, tenant_id: str) -> list[NamedPipeline]:
        """The tenant's pipelines (archived ones included, marked)."""

        def names() -> list[NamedPipeline]:
            with self._engine.connect() as conn:
                return list_pipelines(conn, tenant_id)

        return await self._store.run(names)

    async def set_alias(
        self,
        tenant_id: str,
        name: str,
        alias: str,
        *,
        version: int,
        canary_version: int | None,
        canary_percent: float | None,
        actor: str | None,
    ) -> PipelineAlias:
        """Point ``alias`` at a version (and maybe a canary share at another)."""

        def point() -> PipelineAlias:
            with self._engine.begin() as conn:
                return set_alias(
                    conn,
                    tenant_id,
                    name,
                    alias,
                    version=version,
                    canary_version=canary_version,
                    canary_percent=canary_percent,
                    actor=actor,
                    at=_now(),
                )

        return await self._store.run(point)

    async def archive(self, tenant_id: str, name: str, *, actor: str | None) -> None:
        """Archive the pipeline (``NotFound`` when there is none)."""

        def archived() -> None:
            with self._engine.begin() as conn:
                archive(conn, tenant_id, name, actor=actor, at=_now())

        await self._store.run(archived)

    async def resolve(
        self,
        tenant_id: str,
        name: str,
        *,
        version: int | None = None,
        alias: str | None = None,
        input: Any = None,
    ) -> StoredPipeline:
        """The version a run of ``name`` gets (see :func:`api.tenants.aliases.resolve`).

        Raises:
            NotFound: No such pipeline, version or alias.
            Conflict: The pipeline is archived.
        """

        def found() -> StoredPipeline | None:
            with self._engine.connect() as conn:
                return resolve(conn, tenant_id, name, version=version, alias=alias, input=input)

        stored = await self._store.run(found)
        if stored is None:
            raise no_pipeline(tenant_id, name)
        return stored

    async def referenced(
        self, tenant_id: str, name: str, version: int | None
    ) -> StoredPipeline | str:
        """The version a sub-pipeline reference runs (``None``: the latest; no alias applies), or
        why it cannot run (unknown name or version, archived)."""

        def found() -> StoredPipeline | str:
            with self._engine.connect() as conn:
                head = head_of(conn, tenant_id, name)
                if head is None:
                    return f"unknown pipeline {name!r}"
                if head.archived_at is not None:
                    return f"pipeline {name!r} is archived"
                wanted = head.latest_version if version is None else version
                if wanted > head.latest_version:
                    return f"pipeline {name!r} has no version {version}"
                return get_version(conn, tenant_id, name, wanted)

        return await self._store.run(found)

    async def audit(
        self, tenant_id: str, *, limit: int, before: int | None, pipeline: str | None = None
    ) -> tuple[list[AuditRecord], int | None]:
        """The tenant's audit records newest first and the next page's cursor."""

        def records() -> tuple[list[AuditRecord], int | None]:
            with self._engine.connect() as conn:
                return audit_page(conn, tenant_id, limit=limit, before_id=before, pipeline=pipeline)

        return await self._store.run(records)
