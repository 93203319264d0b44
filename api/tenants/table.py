"""The ``tenant_config`` table (SQLAlchemy Core): JSONB on PostgreSQL, JSON elsewhere."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["JSON_TYPE", "metadata", "tenant_config"]

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

metadata = sa.MetaData()

tenant_config = sa.Table(
    "tenant_config",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("pipeline_definition", JSON_TYPE, nullable=False),
    sa.Column("settings", JSON_TYPE, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("priority", sa.Integer, nullable=True),
    sa.Column("fairness_weight", sa.Float, nullable=True),
    sa.Column(
        "updated_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.current_timestamp(),
    ),
)
