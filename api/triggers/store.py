"""Webhook triggers in the tenant database (table ``webhook_trigger``, migration 0005).

The HMAC needs the secret itself, so it is stored (never a hash of it) and never answered again
after the write that made it; rotating it makes a new one and the old one stops verifying at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from api.tenants import TenantConfigStore

__all__ = ["SIGNATURE_PREFIX", "Trigger", "TriggerStore", "new_secret", "signature_valid", "table"]

SIGNATURE_PREFIX = "sha256="
_WHEN = sa.DateTime(timezone=True)

table = sa.Table(
    "webhook_trigger",
    sa.MetaData(),
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(100), primary_key=True),
    sa.Column("pipeline", sa.String(128), nullable=True),
    sa.Column("input", sa.Text, nullable=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.Column("rotated_at", _WHEN, nullable=True),
)


def new_secret() -> str:
    """A fresh signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of body>`` under ``secret`` (UTF-8 key)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


@dataclass(frozen=True)
class Trigger:
    """A stored trigger (its secret included: for verifying, never for answering)."""

    tenant_id: str
    trigger_id: str
    pipeline: str | None
    input: str | None
    secret: str
    created_at: datetime
    rotated_at: datetime | None


class TriggerStore:
    """Reads and writes ``webhook_trigger`` on the tenant store's database."""

    def __init__(self, store: TenantConfigStore) -> None:
        self._store = store

    async def get(self, tenant_id: str, trigger_id: str) -> Trigger | None:
        """The trigger, or ``None``."""

        def read() -> Trigger | None:
            with self._store.engine.connect() as conn:
                row = conn.execute(
                    sa.select(table).where(
                        table.c.tenant_id == tenant_id, table.c.trigger_id == trigger_id
                    )
                ).first()
            return Trigger(**row._mapping) if row is not None else None

        return await self._store.run(read)

    async def put(
        self, tenant_id: str, trigger_id: str, *, pipeline: str | None, input: str | None
    ) -> tuple[Trigger, bool]:
        """Write the trigger's mapping; a new one gets a secret (``True``), an existing one keeps
        its own."""

        def write() -> tuple[Trigger, bool]:
            now = datetime.now(UTC)
            where = (table.c.tenant_id == tenant_id, table.c.trigger_id == trigger_id)
            with self._store.engine.begin() as conn:
                row = conn.execute(sa.select(table).where(*where)).first()
                if row is None:
                    made = Trigger(tenant_id, trigger_id, pipeline, input, new_secret(), now, None)
                    conn.execute(sa.insert(table).values(**dataclasses.asdict(made)))
                    return made, True
                conn.execute(sa.update(table).where(*where).values(pipeline=pipeline, input=input))
                found = dict(row._mapping, pipeline=pipeline, input=input)
                return Trigger(**found), False

        return await self._store.run(write)

    async def rotate(self, tenant_id: str, trigger_id: str) -> Trigger | None:
        """Give the trigger a new secret (``None`` when there is no such trigger)."""

        def write() -> Trigger | None:
            where = (table.c.tenant_id == tenant_id, table.c.trigger_id == trigger_id)
            with self._store.engine.begin() as conn:
                done = conn.execute(
                    sa.update(table)
                    .where(*where)
                    .values(secret=new_secret(), rotated_at=datetime.now(UTC))
                )
                if not done.rowcount:
                    return None
                row = conn.execute(sa.select(table).where(*where)).one()
            return Trigger(**row._mapping)

        return await self._store.run(write)

    async def delete(self, tenant_id: str, trigger_id: str) -> bool:
        """Delete the trigger; whether there was one."""

        def write() -> bool:
            with self._store.engine.begin() as conn:
                done = conn.execute(
                    sa.delete(table).where(
                        table.c.tenant_id == tenant_id, table.c.trigger_id == trigger_id
                    )
                )
            return bool(done.rowcount)

        return await self._store.run(write)
