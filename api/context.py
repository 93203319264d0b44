"""What the API's handlers share: settings, the engine, the step registry, the config store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from anyio import CapacityLimiter
from cachetools import LRUCache

from api.auth import TokenVerifier
from api.observability import ApiMetrics
from api.rate_limits import RateLimits
from api.tenants import TenantConfigCache, TenantConfigStore
from pipeline_engine.service import PipelineEngine
from pipeline_engine.service.batches import BatchEngine
from pipeline_engine.service.schedules import ScheduleEngine
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry

__all__ = ["ApiContext", "PayloadRefs"]


class PayloadRefs(Protocol):
    """Payload-store references in the Temporal Web UI's codec JSON (one payload at a time)."""

    def owner(self, payload: dict[str, Any]) -> str | None:
        """The pipeline a reference points into; ``None`` for any other payload.

        Raises:
            ValueError: ``payload`` is not a Temporal payload.
        """
        ...

    async def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload a reference points to (the reference itself once it was swept)."""
        ...


@dataclass
class ApiContext:
    """The objects behind the API (no pipeline state: that lives in the engine).

    Attributes:
        settings: Server settings.
        engine: Pipeline operations (Temporal, or the local engine of the offline fake).
        registry: Steps configs are validated against.
        store: Tenant configs in the database.
        cache: Validated tenant configs.
        metrics: Prometheus collectors.
        tokens: Verifies bearer tokens (once per token).
        payload_refs: Reads the payload store for the codec endpoint (``None``: no store).
        batches: Batch operations (``None``: the engine runs no batches).
        schedules: Schedule operations (``None``: the engine runs no schedules).
        limits: Request rates and concurrent streams per token and tenant (``None``: none).
        cpu: The threads CPU-heavy request work runs in, off the event loop (:mod:`api.cpu`).
        owners: The tenant of pipelines seen (an id's tenant never changes: it is part of the
            id's derivation), so ownership is checked before any other read at the cost of one
            ``describe`` per pipeline and process.
    """

    settings: Settings
    engine: PipelineEngine
    registry: StepRegistry
    store: TenantConfigStore
    cache: TenantConfigCache
    metrics: ApiMetrics
    tokens: TokenVerifier
    payload_refs: PayloadRefs | None = None
    batches: BatchEngine | None = None
    schedules: ScheduleEngine | None = None
    limits: RateLimits | None = None
    cpu: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(2))
    owners: LRUCache[str, str | None] = field(default_factory=lambda: LRUCache(maxsize=65536))
