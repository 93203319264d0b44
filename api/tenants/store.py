"""``TenantConfigStore``: a tenant's config (seed 2 shape) with optimistic concurrency.

The config is two things stored apart: the ``tenant_config`` row (settings, priority, write
counter) and the latest version of the tenant's pipeline named ``default``. A write stores both,
and its audit record, in one transaction; a read joins them back into the seed's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from api.tenants.audit import aware, record
from api.tenants.table import pipeline, pipeline_version, tenant_config
from api.tenants.urls import ensure_sqlite_dir, sync_url
from api.tenants.versions import NewVersion, archive, write_version
from pipeline_engine.errors import Conflict, EngineUnavailable, NotFound
from pipeline_engine.resources import TenantConfig
from pipeline_engine.schema_versions import CURRENT_SCHEMA_VERSION
from pipeline_engine.service.tenant_configs import check_version, no_tenant_config
from pipeline_engine.versions import DEFAULT_PIPELINE

__all__ = ["TenantConfigRow", "TenantConfigStore"]

T = TypeVar("T")


TenantConfigRow = TenantConfig
"""A stored row is the wire type itself (one home: :class:`pipeline_engine.TenantConfig`)."""


def _definition(field: str | None, document: Any) -> Any:
    """The DSL tree of the default pipeline's document (a config's ``definition``)."""
    if field == "config" and isinstance(document, dict) and "definition" in document:
        return document["definition"]
    return document


def _row(r: Any) -> TenantConfigRow:
    settings = r.settings if isinstance(r.settings, dict) else {}
    return TenantConfig(
        tenant_id=r.tenant_id,
        pipeline_definition=_definition(r.field, r.document),
        settings=settings,
        version=int(r.version),
        updated_at=aware(r.updated_at),
        priority=r.priority,
        fairness_weight=r.fairness_weight,
    )


def _joined() -> sa.Select[Any]:
    """``tenant_config`` rows with the document of their ``default`` pipeline's latest version."""
    t, p, v = tenant_config, pipeline, pipeline_version
    return (
        sa.select(t, v.c.field, v.c.document)
        .outerjoin(p, sa.and_(p.c.tenant_id == t.c.tenant_id, p.c.name == DEFAULT_PIPELINE))
        .outerjoin(
            v,
            sa.and_(
                v.c.tenant_id == t.c.tenant_id,
                v.c.name == DEFAULT_PIPELINE,
                v.c.version == p.c.latest_version,
            ),
        )
    )


class TenantConfigStore:
    """Access to ``tenant_config`` through SQLAlchemy 2; blocking work runs in threads.

    Args:
        database_url: SQLAlchemy URL (``sqlite:///file.db`` or ``postgresql://…``; psycopg 3 is
            used for PostgreSQL).
        engine: An existing SQLAlchemy engine (``database_url`` is then ignored).
    """

    def __init__(self, database_url: str, *, engine: Engine | None = None) -> None:
        if engine is None:
            ensure_sqlite_dir(database_url)
            engine = sa.create_engine(sync_url(database_url), pool_pre_ping=True)
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return self._engine

    async def close(self) -> None:
        """Release the connection pool."""
        await asyncio.to_thread(self._engine.dispose)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run blocking database work in a thread; an unreachable database is
        ``EngineUnavailable``."""

        def guarded() -> T:
            try:
                return fn()
            except (OperationalError, OSError) as exc:
                raise EngineUnavailable("the tenant config database is unreachable") from exc
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise EngineUnavailable("the tenant config database is unreachable") from exc
                raise

        return await asyncio.to_thread(guarded)

    async def ping(self) -> None:
        """Check the database answers (raises ``EngineUnavailable`` when it does not)."""

        def ping() -> None:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        await self.run(ping)

    async def get(self, tenant_id: str) -> TenantConfigRow | None:
        """The tenant's row, or ``None``."""

        def get() -> TenantConfigRow | None:
            with self._engine.connect() as conn:
                found = conn.execute(
                    _joined().where(tenant_config.c.tenant_id == tenant_id)
                ).first()
            return _row(found) if found is not None else None

        return await self.run(get)

    async def all(self) -> list[TenantConfigRow]:
        """Every row, by tenant id."""

        def all_rows() -> list[TenantConfigRow]:
            with self._engine.connect() as conn:
                result = conn.execute(_joined().order_by(tenant_config.c.tenant_id))
                return [_row(r) for r in result]

        return await self.run(all_rows)

    async def versions(self) -> dict[str, tuple[int, datetime]]:
        """``{tenant_id: (version, updated_at)}`` of every row (cheap change detection)."""

        def versions() -> dict[str, tuple[int, datetime]]:
            t = tenant_config
            with self._engine.connect() as conn:
                result = conn.execute(sa.select(t.c.tenant_id, t.c.version, t.c.updated_at))
                return {r.tenant_id: (int(r.version), aware(r.updated_at)) for r in result}

        return await self.run(versions)

    async def get_many(self, tenant_ids: list[str]) -> list[TenantConfigRow]:
        """The rows of these tenants (those that exist)."""
        if not tenant_ids:
            return []

        def get_many() -> list[TenantConfigRow]:
            with self._engine.connect() as conn:
                result = conn.execute(_joined().where(tenant_config.c.tenant_id.in_(tenant_ids)))
                return [_row(r) for r in result]

        return await self.run(get_many)

    async def put(
        self,
        tenant_id: str,
        *,
        pipeline_definition: Any,
        settings: dict[str, Any],
        expected_version: int | None = None,
        priority: int | None = None,
        fairness_weight: float | None = None,
        actor: str | None = None,
        message: str | None = None,
    ) -> TenantConfigRow:
        """Create or replace the tenant's config.

        The definition becomes the next version of the ``default`` pipeline unless it equals
        the latest one; the write is audited as ``tenant_config.written``.

        Args:
            tenant_id: The tenant.
            pipeline_definition: The (already validated) DSL tree.
            settings: The tenant's settings.
            priority: The tenant's priority key (``None``: the server's default).
            fairness_weight: The tenant's fairness weight (``None``: 1.0).
            expected_version: When given, the write only happens if the stored version is this
                one (``0`` means "must not exist yet").
            actor: Who writes (the token's ``sub``), for the version and the audit log.
            message: Why (kept with the version and the audit record).

        Raises:
            Conflict: ``expected_version`` does not match the stored version.
        """
        written = TenantConfig(
            tenant_id=tenant_id,
            pipeline_definition=pipeline_definition,
            settings=settings,
            version=0,  # set by the write
            updated_at=datetime.now(UTC),
            priority=priority,
            fairness_weight=fairness_weight,
        )

        def put() -> TenantConfigRow:
            for _ in range(3):
                try:
                    with self._engine.begin() as conn:
                        return _put(conn, written, expected_version, actor, message)
                except IntegrityError:
                    continue  # a concurrent insert won; re-read and update
            raise Conflict("tenant config changed concurrently; retry")

        return await self.run(put)

    async def delete(
        self, tenant_id: str, *, expected_version: int | None = None, actor: str | None = None
    ) -> None:
        """Delete the tenant's config: its row goes, its ``default`` pipeline is archived.

        Raises:
            TenantNotFound: There is no config for the tenant.
            Conflict: ``expected_version`` does not match the stored version.
        """

        def delete() -> None:
            t = tenant_config
            with self._engine.begin() as conn:
                current = conn.execute(
                    sa.select(t.c.version).where(t.c.tenant_id == tenant_id)
                ).scalar()
                if current is None:
                    raise no_tenant_config(tenant_id)
                check_version(tenant_id, current=current, expected=expected_version)
                conn.execute(sa.delete(t).where(t.c.tenant_id == tenant_id))
                with contextlib.suppress(NotFound):  # none: a row written outside the API
                    archive(conn, tenant_id, DEFAULT_PIPELINE, actor=actor, at=datetime.now(UTC))

        await self.run(delete)


def bump_version(conn: Connection, tenant_id: str, at: datetime) -> None:
    """The tenant's config changed through its ``default`` pipeline: count a write of the row
    (so an ``If-Match`` read before it fails, and caches of other replicas refresh)."""
    t = tenant_config
    conn.execute(
        sa.update(t)
        .where(t.c.tenant_id == tenant_id)
        .values(version=t.c.version + 1, updated_at=at)
    )


def _put(
    conn: Connection,
    row: TenantConfigRow,
    expected: int | None,
    actor: str | None,
    message: str | None,
) -> TenantConfigRow:
    """Write ``row`` (its version: the stored one plus one) and return what was stored."""
    t = tenant_config
    tenant_id = row.tenant_id
    current = conn.execute(sa.select(t.c.version).where(t.c.tenant_id == tenant_id)).scalar()
    check_version(tenant_id, current=current or 0, expected=expected)
    values = row.model_dump(include={"settings", "updated_at", "priority", "fairness_weight"})
    if current is None:
        conn.execute(sa.insert(t).values(tenant_id=tenant_id, version=1, **values))
    else:
        result = conn.execute(
            sa.update(t)
            .where(t.c.tenant_id == tenant_id, t.c.version == current)
            .values(version=current + 1, **values)
        )
        if result.rowcount != 1:
            raise Conflict("tenant config changed concurrently; retry")
    new = NewVersion(
        "pipeline_definition", row.pipeline_definition, CURRENT_SCHEMA_VERSION, message
    )
    version, _ = write_version(
        conn, tenant_id, DEFAULT_PIPELINE, new, actor=actor, at=row.updated_at, audit=False
    )
    record(
        conn,
        tenant_id,
        action="tenant_config.written",
        actor=actor,
        at=row.updated_at,
        pipeline=DEFAULT_PIPELINE,
        version=version.version,
        message=message,
    )
    return row.model_copy(update={"version": (current or 0) + 1})
