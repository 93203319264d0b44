"""The tenant store's tables (SQLAlchemy Core): JSONB on PostgreSQL, JSON elsewhere.

``tenant_config`` is the tenant (its settings, priority and write counter); its pipelines are
rows of ``pipeline`` (one per name: the latest version, whether archived) and immutable rows of
``pipeline_version``; ``pipeline_alias`` points names like ``live`` at versions; ``audit_log``
records every change, and nothing in the API edits or deletes it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "JSON_TYPE",
    "audit_log",
    "metadata",
    "pipeline",
    "pipeline_alias",
    "pipeline_version",
    "tenant_config",
]

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)

metadata = sa.MetaData()

tenant_config = sa.Table(
    "tenant_config",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("settings", JSON_TYPE, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("priority", sa.Integer, nullable=True),
    sa.Column("fairness_weight", sa.Float, nullable=True),
    sa.Column("updated_at", _WHEN, nullable=False, server_default=sa.func.current_timestamp()),
)

pipeline = sa.Table(
    "pipeline",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("archived_at", _WHEN, nullable=True),
    sa.Column("updated_at", _WHEN, nullable=False),
)

pipeline_version = sa.Table(
    "pipeline_version",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("field", sa.String(32), nullable=False),
    sa.Column("document", JSON_TYPE, nullable=False),
    sa.Column("schema_version", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
)

pipeline_alias = sa.Table(
    "pipeline_alias",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("canary_version", sa.Integer, nullable=True),
    sa.Column("canary_percent", sa.Float, nullable=True),
    sa.Column("updated_by", sa.String(200), nullable=True),
    sa.Column("updated_at", _WHEN, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(128), nullable=False, index=True),
    sa.Column("at", _WHEN, nullable=False),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
)
