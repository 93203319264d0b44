"""Named pipelines' immutable versions: write (deduplicated, optimistic), read, list, archive.

Every function takes a connection inside the caller's transaction, so a version, its pipeline's
head row and its audit record commit together (or not at all).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from api.tenants.audit import aware, record
from api.tenants.table import pipeline, pipeline_alias, pipeline_version
from pipeline_engine._ids import canonical_json
from pipeline_engine.errors import Conflict, DefinitionNotFound
from pipeline_engine.versions import (
    DocumentField,
    NamedPipeline,
    PipelineAlias,
    PipelineVersion,
    StoredPipeline,
)

__all__ = [
    "Head",
    "NewVersion",
    "archive",
    "digest_of",
    "get_version",
    "head_of",
    "list_pipelines",
    "list_versions",
    "no_pipeline",
    "write_version",
]


def digest_of(document: Any) -> str:
    """sha256 (hex) of the document's canonical JSON."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def no_pipeline(tenant_id: str, name: str) -> DefinitionNotFound:
    """The error for a name the tenant has no pipeline under."""
    return DefinitionNotFound(f"tenant {tenant_id!r} has no pipeline named {name!r}")


@dataclass(frozen=True)
class NewVersion:
    """A document to store as a pipeline's next version.

    Attributes:
        field: The field it was written with.
        document: The document (already validated).
        schema_version: Its config schema version.
        message: The writer's message.
    """

    field: DocumentField
    document: Any
    schema_version: str
    message: str | None = None

    @property
    def digest(self) -> str:
        """sha256 of the canonical document."""
        return digest_of(self.document)


@dataclass(frozen=True)
class Head:
    """A pipeline's head row: its newest version and whether it is archived."""

    tenant_id: str
    name: str
    latest_version: int
    archived_at: datetime | None
    updated_at: datetime


def _stored(row: Any) -> StoredPipeline:
    return StoredPipeline(**dict(_metadata(row)), **{row.field: row.document})


def head_of(conn: Connection, tenant_id: str, name: str, *, lock: bool = False) -> Head | None:
    """The pipeline's head row (``lock``: held until the transaction ends, on PostgreSQL)."""
    p = pipeline
    query = sa.select(p).where(p.c.tenant_id == tenant_id, p.c.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return Head(
        tenant_id,
        name,
        int(row.latest_version),
        aware(row.archived_at) if row.archived_at is not None else None,
        aware(row.updated_at),
    )


def get_version(
    conn: Connection, tenant_id: str, name: str, version: int | None = None
) -> StoredPipeline:
    """One version with its document (``None``: the latest).

    Raises:
        NotFound: No such pipeline, or no such version of it.
    """
    if version is None:
        head = head_of(conn, tenant_id, name)
        if head is None:
            raise no_pipeline(tenant_id, name)
        version = head.latest_version
    v = pipeline_version
    row = conn.execute(
        sa.select(v).where(v.c.tenant_id == tenant_id, v.c.name == name, v.c.version == version)
    ).first()
    if row is None:
        if head_of(conn, tenant_id, name) is None:
            raise no_pipeline(tenant_id, name)
        raise DefinitionNotFound(
            f"pipeline {name!r} of tenant {tenant_id!r} has no version {version}"
        )
    return _stored(row)


def write_version(
    conn: Connection,
    tenant_id: str,
    name: str,
    new: NewVersion,
    *,
    actor: str | None,
    at: datetime,
    expected: int | None = None,
    action: str = "pipeline.version_created",
    audit: bool = True,
) -> tuple[StoredPipeline, bool]:
    """Store ``new`` as the pipeline's next version; ``(version, created)``.

    A document equal to the latest version's (same digest, same field) makes none: that version
    comes back with ``created`` false and nothing is audited. Writing to an archived pipeline
    revives it, always with a new version.

    Args:
        expected: The latest version the writer saw (``0``: the name must be new); another one
            is a lost update, refused.
        action: The audit action to record (``audit=False``: the caller records its own).

    Raises:
        Conflict: ``expected`` is not the latest version (or a concurrent writer won).
    """
    head = head_of(conn, tenant_id, name, lock=True)
    current = head.latest_version if head is not None else 0
    if expected is not None and expected != current:
        raise Conflict(
            f"pipeline {name!r} is at version {current}, not {expected}",
            details=[{"pipeline": name, "version": current}],
        )
    digest = new.digest
    if head is not None and head.archived_at is None:
        latest = get_version(conn, tenant_id, name, current)
        if latest.digest == digest and latest.field == new.field:
            return latest, False
    number = current + 1
    conn.execute(
        sa.insert(pipeline_version).values(
            tenant_id=tenant_id,
            name=name,
            version=number,
            field=new.field,
            document=new.document,
            schema_version=new.schema_version,
            digest=digest,
            created_by=actor,
            created_at=at,
            message=new.message,
        )
    )
    p = pipeline
    if head is None:
        conn.execute(
            sa.insert(p).values(tenant_id=tenant_id, name=name, latest_version=1, updated_at=at)
        )
    else:
        done = conn.execute(
            sa.update(p)
            .where(p.c.tenant_id == tenant_id, p.c.name == name, p.c.latest_version == current)
            .values(latest_version=number, archived_at=None, updated_at=at)
        )
        if done.rowcount != 1:
            raise Conflict(f"pipeline {name!r} changed concurrently; retry")
    if audit:
        record(
            conn,
            tenant_id,
            action=action,
            actor=actor,
            at=at,
            pipeline=name,
            version=number,
            message=new.message,
        )
    return get_version(conn, tenant_id, name, number), True


def archive(
    conn: Connection, tenant_id: str, name: str, *, actor: str | None, at: datetime
) -> Head:
    """Archive the pipeline (its versions stay readable; it can no longer be run).

    Archiving an archived pipeline changes nothing (and records nothing).

    Raises:
        NotFound: No such pipeline.
    """
    head = head_of(conn, tenant_id, name, lock=True)
    if head is None:
        raise no_pipeline(tenant_id, name)
    if head.archived_at is not None:
        return head
    p = pipeline
    conn.execute(
        sa.update(p)
        .where(p.c.tenant_id == tenant_id, p.c.name == name)
        .values(archived_at=at, updated_at=at)
    )
    record(
        conn,
        tenant_id,
        action="pipeline.archived",
        actor=actor,
        at=at,
        pipeline=name,
        version=head.latest_version,
        message=None,
    )
    return Head(tenant_id, name, head.latest_version, at, at)


def _metadata(row: Any) -> PipelineVersion:
    return PipelineVersion(
        tenant_id=row.tenant_id,
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        schema_version=row.schema_version,
        created_at=aware(row.created_at),
        created_by=row.created_by,
        message=row.message,
    )


def list_versions(
    conn: Connection, tenant_id: str, name: str, *, limit: int, before: int | None
) -> tuple[list[PipelineVersion], int | None]:
    """Version metadata newest first, and the cursor of the next page (``None``: the last).

    Raises:
        NotFound: No such pipeline.
    """
    if head_of(conn, tenant_id, name) is None:
        raise no_pipeline(tenant_id, name)
    v = pipeline_version
    cols = [c for c in v.c if c.name not in ("document", "field")]
    query = sa.select(*cols).where(v.c.tenant_id == tenant_id, v.c.name == name)
    if before is not None:
        query = query.where(v.c.version < before)
    rows = conn.execute(query.order_by(v.c.version.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [_metadata(r) for r in rows], (int(rows[-1].version) if more and rows else None)


def alias_of(row: Any) -> PipelineAlias:
    """An alias row as the wire type."""
    return PipelineAlias(
        alias=row.alias,
        version=int(row.version),
        canary_version=row.canary_version,
        canary_percent=row.canary_percent,
        updated_at=aware(row.updated_at),
        updated_by=row.updated_by,
    )


def aliases_of(
    conn: Connection, tenant_id: str, name: str | None = None
) -> dict[str, dict[str, PipelineAlias]]:
    """``{pipeline name: {alias: PipelineAlias}}`` of the tenant (or of one pipeline)."""
    a = pipeline_alias
    query = sa.select(a).where(a.c.tenant_id == tenant_id)
    if name is not None:
        query = query.where(a.c.name == name)
    found: dict[str, dict[str, PipelineAlias]] = {}
    for row in conn.execute(query.order_by(a.c.name, a.c.alias)):
        found.setdefault(row.name, {})[row.alias] = alias_of(row)
    return found


def list_pipelines(conn: Connection, tenant_id: str) -> list[NamedPipeline]:
    """The tenant's pipelines by name, with their latest version and aliases."""
    p = pipeline
    aliases = aliases_of(conn, tenant_id)
    rows = conn.execute(sa.select(p).where(p.c.tenant_id == tenant_id).order_by(p.c.name))
    return [
        NamedPipeline(
            tenant_id=tenant_id,
            name=r.name,
            latest_version=int(r.latest_version),
            archived=r.archived_at is not None,
            updated_at=aware(r.updated_at),
            aliases=aliases.get(r.name, {}),
        )
        for r in rows
    ]
