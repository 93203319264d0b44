"""Seed 2: replace ``pipeline_steps`` with the serialised DSL ``pipeline_definition`` (JSONB).

Exactly the seed's migration (option A: no tenants in production, the column is replaced)::

    ALTER TABLE tenant_config
      DROP COLUMN pipeline_steps,
      ADD COLUMN pipeline_definition JSONB NOT NULL;

plus ``version`` (optimistic concurrency) and ``updated_at`` (cache refresh across replicas).
SQLite gets the same change through Alembic's batch mode (JSON instead of JSONB).

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-17
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEED_SQL = """
ALTER TABLE tenant_config
  DROP COLUMN pipeline_steps,
  ADD COLUMN pipeline_definition JSONB NOT NULL
"""


def _legacy_table() -> sa.Table:
    """Revision 0001's table, so SQLite's batch mode works without reflection (``--sql``)."""
    return sa.Table(
        "tenant_config",
        sa.MetaData(),
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("pipeline_steps", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
    )


def _refuse_rows() -> None:
    rows = op.get_bind().execute(sa.text("SELECT count(*) FROM tenant_config")).scalar()
    if rows:
        raise RuntimeError(
            f"tenant_config holds {rows} legacy rows: the seed's migration replaces "
            "pipeline_steps without conversion (option A); move them to pipeline_definition first"
        )


def upgrade() -> None:
    """Drop ``pipeline_steps``; add ``pipeline_definition``, ``version``, ``updated_at``."""
    if not op.get_context().as_sql:
        _refuse_rows()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SEED_SQL)
        op.execute(
            "ALTER TABLE tenant_config"
            "  ADD COLUMN version INTEGER NOT NULL DEFAULT 1,"
            "  ADD COLUMN updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()"
        )
        return
    with op.batch_alter_table("tenant_config", copy_from=_legacy_table()) as batch:
        batch.drop_column("pipeline_steps")
        batch.add_column(sa.Column("pipeline_definition", sa.JSON(), nullable=False))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )


def downgrade() -> None:
    """Back to the legacy shape (definitions are lost, as in the seed's option A)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE tenant_config"
            "  DROP COLUMN updated_at, DROP COLUMN version, DROP COLUMN pipeline_definition,"
            "  ADD COLUMN pipeline_steps JSONB NOT NULL DEFAULT '[]'::jsonb"
        )
        return
    with op.batch_alter_table("tenant_config") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("version")
        batch.drop_column("pipeline_definition")
        batch.add_column(
            sa.Column("pipeline_steps", sa.JSON(), nullable=False, server_default="[]")
        )
