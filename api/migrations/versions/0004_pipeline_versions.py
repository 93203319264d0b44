"""Issue 20: named pipelines with immutable versions, aliases and an audit log.

Every ``tenant_config.pipeline_definition`` becomes version 1 of the tenant's pipeline named
``default`` (same document, its digest, written at the row's ``updated_at`` by ``migration``),
with an audit record saying so; then the column is dropped: ``tenant_config`` keeps the tenant
(settings, priority, write counter), ``pipeline_version`` the definitions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)
DEFAULT = "default"
MIGRATION_ACTOR = "migration"


def _digest(document: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces): the store's digest, frozen here."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _tenant_config_0003(*, with_definition: bool) -> sa.Table:
    """Revision 0003's table (SQLite's batch mode works from it without reflection)."""
    columns: list[sa.Column[Any]] = [
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("settings", _JSON, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", _WHEN, nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("fairness_weight", sa.Float(), nullable=True),
    ]
    if with_definition:
        columns.insert(1, sa.Column("pipeline_definition", _JSON, nullable=False))
    return sa.Table("tenant_config", sa.MetaData(), *columns)


def _create_tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    pipeline = op.create_table(
        "pipeline",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("archived_at", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    versions = op.create_table(
        "pipeline_version",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("document", _JSON, nullable=False),
        sa.Column("schema_version", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_table(
        "pipeline_alias",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("canary_version", sa.Integer(), nullable=True),
        sa.Column("canary_percent", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    audit = op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"])
    return pipeline, versions, audit


def _copy_definitions(pipeline: sa.Table, versions: sa.Table, audit: sa.Table) -> None:
    """Each tenant's definition, unchanged, as version 1 of its ``default`` pipeline."""
    old = _tenant_config_0003(with_definition=True)
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(old.c.tenant_id, old.c.pipeline_definition, old.c.updated_at)
    ).all()
    for tenant_id, definition, updated_at in rows:
        bind.execute(
            sa.insert(pipeline).values(
                tenant_id=tenant_id, name=DEFAULT, latest_version=1, updated_at=updated_at
            )
        )
        bind.execute(
            sa.insert(versions).values(
                tenant_id=tenant_id,
                name=DEFAULT,
                version=1,
                field="pipeline_definition",
                document=definition,
                schema_version="1",
                digest=_digest(definition),
                created_by=MIGRATION_ACTOR,
                created_at=updated_at,
                message="tenant_config.pipeline_definition before versions",
            )
        )
        bind.execute(
            sa.insert(audit).values(
                tenant_id=tenant_id,
                at=updated_at,
                actor=MIGRATION_ACTOR,
                action="pipeline.version_created",
                pipeline=DEFAULT,
                version=1,
                message="tenant_config.pipeline_definition before versions",
            )
        )


def upgrade() -> None:
    """Create the tables, move every definition to version 1 of ``default``, drop the column."""
    pipeline, versions, audit = _create_tables()
    if not op.get_context().as_sql:
        _copy_definitions(pipeline, versions, audit)
    with op.batch_alter_table(
        "tenant_config", copy_from=_tenant_config_0003(with_definition=True)
    ) as batch:
        batch.drop_column("pipeline_definition")


def downgrade() -> None:
    """Put the latest version of ``default`` back in ``tenant_config.pipeline_definition``.

    Named pipelines other than ``default``, older versions, aliases and the audit log are lost.
    """
    with op.batch_alter_table(
        "tenant_config", copy_from=_tenant_config_0003(with_definition=False)
    ) as batch:
        batch.add_column(sa.Column("pipeline_definition", _JSON, nullable=True))
    if not op.get_context().as_sql:
        bind = op.get_bind()
        table = _tenant_config_0003(with_definition=True)
        v = sa.table(
            "pipeline_version",
            sa.column("tenant_id"),
            sa.column("name"),
            sa.column("version"),
            sa.column("field"),
            sa.column("document", _JSON),
        )
        p = sa.table(
            "pipeline", sa.column("tenant_id"), sa.column("name"), sa.column("latest_version")
        )
        found = bind.execute(
            sa.select(v.c.tenant_id, v.c.field, v.c.document)
            .join(p, sa.and_(p.c.tenant_id == v.c.tenant_id, p.c.name == v.c.name))
            .where(v.c.name == DEFAULT, v.c.version == p.c.latest_version)
        ).all()
        for tenant_id, field, document in found:
            if field == "config" and isinstance(document, dict) and "definition" in document:
                document = document["definition"]
            bind.execute(
                sa.update(table)
                .where(table.c.tenant_id == tenant_id)
                .values(pipeline_definition=document)
            )
        bind.execute(sa.delete(table).where(table.c.pipeline_definition.is_(None)))
    with op.batch_alter_table(
        "tenant_config", copy_from=_tenant_config_0003(with_definition=True)
    ) as batch:
        batch.alter_column("pipeline_definition", existing_type=_JSON, nullable=False)
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    for name in ("audit_log", "pipeline_alias", "pipeline_version", "pipeline"):
        op.drop_table(name)
