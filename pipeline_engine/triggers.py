"""Webhook triggers: the wire type of ``/v1/tenants/{t}/triggers/{id}`` (API and SDK share it)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["TriggerInfo"]


class TriggerInfo(BaseModel):
    """A webhook trigger; ``secret`` only in the answer that made it (or rotated it).

    Attributes:
        tenant_id: The owning tenant.
        trigger_id: Its id.
        pipeline: The tenant's pipeline a delivery starts.
        input: The CEL mapping over ``body`` and ``headers`` (``None``: the body is the input).
        url: Where deliveries go (POST, signed).
        secret: The HMAC key (UTF-8): shown once, keep it; rotate to get a new one.
    """

    tenant_id: str
    trigger_id: str
    pipeline: str | None = None
    input: str | None = None
    url: str = Field(description="Where deliveries go (POST).")
    secret: str | None = Field(
        None, description="The HMAC key (UTF-8): shown once, keep it; rotate to get a new one."
    )
