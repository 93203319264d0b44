"""Legacy tenant_config: a linear list of step names per tenant (``pipeline_steps``).

Revision ID: 0001
Revises:
Create Date: 2026-02-17
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the table as it was before seed 2."""
    op.create_table(
        "tenant_config",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("pipeline_steps", _JSON, nullable=False),
        sa.Column("settings", _JSON, nullable=True),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("tenant_config")
