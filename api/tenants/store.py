"""``TenantConfigStore``: reads and writes ``tenant_config`` rows with optimistic concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from api.tenants.table import tenant_config
from api.tenants.urls import ensure_sqlite_dir, sync_url
from pipeline_engine.errors import Conflict, EngineUnavailable
from pipeline_engine.resources import TenantConfig
from pipeline_engine.service.tenant_configs import check_version, no_tenant_config

__all__ = ["TenantConfigRow", "TenantConfigStore"]

T = TypeVar("T")


TenantConfigRow = TenantConfig
"""A stored row is the wire type itself (one home: :class:`pipeline_engine.TenantConfig`)."""


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(r: Any) -> TenantConfigRow:
    settings = r.settings if isinstance(r.settings, dict) else {}
    return TenantConfig(
        tenant_id=r.tenant_id,
        pipeline_definition=r.pipeline_definition,
        settings=settings,
        version=int(r.version),
        updated_at=_aware(r.updated_at),
        priority=r.priority,
        fairness_weight=r.fairness_weight,
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

    async def _run(self, fn: Callable[[], T]) -> T:
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

        await self._run(ping)

    async def get(self, tenant_id: str) -> TenantConfigRow | None:
        """The tenant's row, or ``None``."""

        def get() -> TenantConfigRow | None:
            with self._engine.connect() as conn:
                found = conn.execute(
                    sa.select(tenant_config).where(tenant_config.c.tenant_id == tenant_id)
                ).first()
            return _row(found) if found is not None else None

        return await self._run(get)

    async def all(self) -> list[TenantConfigRow]:
        """Every row, by tenant id."""

        def all_rows() -> list[TenantConfigRow]:
            with self._engine.connect() as conn:
                result = conn.execute(sa.select(tenant_config).order_by(tenant_config.c.tenant_id))
                return [_row(r) for r in result]

        return await self._run(all_rows)

    async def versions(self) -> dict[str, tuple[int, datetime]]:
        """``{tenant_id: (version, updated_at)}`` of every row (cheap change detection)."""

        def versions() -> dict[str, tuple[int, datetime]]:
            t = tenant_config
            with self._engine.connect() as conn:
                result = conn.execute(sa.select(t.c.tenant_id, t.c.version, t.c.updated_at))
                return {r.tenant_id: (int(r.version), _aware(r.updated_at)) for r in result}

        return await self._run(versions)

    async def get_many(self, tenant_ids: list[str]) -> list[TenantConfigRow]:
        """The rows of these tenants (those that exist)."""
        if not tenant_ids:
            return []

        def get_many() -> list[TenantConfigRow]:
            with self._engine.connect() as conn:
                result = conn.execute(
                    sa.select(tenant_config).where(tenant_config.c.tenant_id.in_(tenant_ids))
                )
                return [_row(r) for r in result]

        return await self._run(get_many)

    async def put(
        self,
        tenant_id: str,
        *,
        pipeline_definition: Any,
        settings: dict[str, Any],
        expected_version: int | None = None,
        priority: int | None = None,
        fairness_weight: float | None = None,
    ) -> TenantConfigRow:
        """Create or replace the tenant's config.

        Args:
            tenant_id: The tenant.
            pipeline_definition: The (already validated) DSL tree.
            settings: The tenant's settings.
            priority: The tenant's priority key (``None``: the server's default).
            fairness_weight: The tenant's fairness weight (``None``: 1.0).
            expected_version: When given, the write only happens if the stored version is this
                one (``0`` means "must not exist yet").

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
                        return _put(conn, written, expected_version)
                except IntegrityError:
                    continue  # a concurrent insert won; re-read and update
            raise Conflict("tenant config changed concurrently; retry")

        return await self._run(put)

    async def delete(self, tenant_id: str, *, expected_version: int | None = None) -> None:
        """Delete the tenant's config.

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

        await self._run(delete)


def _put(conn: Connection, row: TenantConfigRow, expected: int | None) -> TenantConfigRow:
    """Write ``row`` (its version: the stored one plus one) and return what was stored."""
    t = tenant_config
    tenant_id = row.tenant_id
    current = conn.execute(sa.select(t.c.version).where(t.c.tenant_id == tenant_id)).scalar()
    check_version(tenant_id, current=current or 0, expected=expected)
    values = row.model_dump(
        include={"pipeline_definition", "settings", "updated_at", "priority", "fairness_weight"}
    )
    if current is None:
        conn.execute(sa.insert(t).values(tenant_id=tenant_id, version=1, **values))
        return row.model_copy(update={"version": 1})
    result = conn.execute(
        sa.update(t)
        .where(t.c.tenant_id == tenant_id, t.c.version == current)
        .values(version=current + 1, **values)
    )
    if result.rowcount != 1:
        raise Conflict("tenant config changed concurrently; retry")
    return row.model_copy(update={"version": current + 1})
