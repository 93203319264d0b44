"""Issue 22: webhook triggers (``webhook_trigger``: a tenant's trigger, its mapping, its secret).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_trigger",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("trigger_id", sa.String(100), primary_key=True),
        sa.Column("pipeline", sa.String(128), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("rotated_at", _WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("webhook_trigger")
