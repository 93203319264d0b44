"""Issue 10: an optional per-tenant ``priority`` and ``fairness_weight`` (Temporal task priority).

Both are nullable: a row without them runs at the server's default priority and weight.

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``priority`` (integer) and ``fairness_weight`` (float), both nullable."""
    with op.batch_alter_table("tenant_config") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fairness_weight", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop them (the tenants' pipelines then run at the default priority)."""
    with op.batch_alter_table("tenant_config") as batch:
        batch.drop_column("fairness_weight")
        batch.drop_column("priority")
