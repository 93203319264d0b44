"""What the API's handlers share: settings, the engine, the step registry, the config store."""

from __future__ import annotations

from dataclasses import dataclass

from api.observability import ApiMetrics
from api.tenants import TenantConfigCache, TenantConfigStore
from pipeline_engine.service import PipelineEngine
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry

__all__ = ["ApiContext"]


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
    """

    settings: Settings
    engine: PipelineEngine
    registry: StepRegistry
    store: TenantConfigStore
    cache: TenantConfigCache
    metrics: ApiMetrics
