"""The audit log: one row per change, written in the change's own transaction, never edited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from api.tenants.table import audit_log
from pipeline_engine.versions import AUDIT_ACTIONS, AuditRecord

__all__ = ["audit_page", "record"]


def aware(value: datetime) -> datetime:
    """``value`` in UTC (SQLite hands back naive times)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record(
    conn: Connection,
    tenant_id: str,
    *,
    action: str,
    actor: str | None,
    at: datetime,
    pipeline: str | None,
    version: int | None,
    message: str | None,
) -> None:
    """Append one audit record (inside the caller's transaction, so it commits with the change)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(
        sa.insert(audit_log).values(
            tenant_id=tenant_id,
            at=at,
            actor=actor,
            action=action,
            pipeline=pipeline,
            version=version,
            message=message,
        )
    )


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        at=aware(row.at),
        actor=row.actor,
        action=row.action,
        pipeline=row.pipeline,
        version=row.version,
        message=row.message,
    )


def audit_page(
    conn: Connection,
    tenant_id: str,
    *,
    limit: int,
    before_id: int | None,
    pipeline: str | None = None,
) -> tuple[list[AuditRecord], int | None]:
    """The tenant's records newest first, and the cursor of the next page (``None``: last)."""
    t = audit_log
    query = sa.select(t).where(t.c.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(t.c.id < before_id)
    if pipeline is not None:
        query = query.where(t.c.pipeline == pipeline)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [_record(r) for r in rows], (int(rows[-1].id) if more and rows else None)
