"""The step cache's two activities, run as local activities by the pipeline workflow (their
answers are markers in its history, so a replay takes the same path), and its metrics.

The key needs the step's ``@step(version=…)``, read from this worker's registry: a step that is
not registered on the worker running the workflow has no known version, so it is not cached
(counted as a miss, ``reason="unavailable"``), nor is any step without a payload store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from pipeline_engine._step_cache import CacheAnswer, CacheRequest, step_version
from pipeline_engine.observability.metric_labels import pipeline_labels
from pipeline_engine.steps import StepRegistry
from workflows import step_cache
from workflows.payload_store import PayloadStore

__all__ = [
    "ACTIVITY_CACHE_LOOKUP",
    "ACTIVITY_CACHE_WRITE",
    "CacheWriteInput",
    "build_step_cache_activities",
]

ACTIVITY_CACHE_LOOKUP = "StepCacheLookup"
ACTIVITY_CACHE_WRITE = "StepCacheWrite"


class CacheWriteInput(BaseModel):
    """What the write activity receives: the stage's request and its step's result."""

    model_config = ConfigDict(extra="forbid")

    request: CacheRequest
    result: Any = None


def _count(name: str, description: str, request: CacheRequest, **labels: str) -> None:
    activity.metric_meter().create_counter(name, description).add(
        1, pipeline_labels(request.tenant_id or "", step=request.step, **labels)
    )


class StepCacheActivities:
    """Lookups and writes over one worker's registry and payload store (``None``: no cache)."""

    def __init__(self, registry: StepRegistry, store: PayloadStore | None) -> None:
        self._registry = registry
        self._store = store

    @activity.defn(name=ACTIVITY_CACHE_LOOKUP)
    async def lookup(self, request: CacheRequest) -> CacheAnswer:
        """The cache's answer for a stage about to run."""
        known, version = step_version(self._registry, request.step)
        if self._store is None or not known:
            found = step_cache.Lookup(CacheAnswer(), miss="unavailable")
        else:
            found = await step_cache.lookup(self._store, request, version, datetime.now(UTC))
        if found.answer.hit:
            _count("pipeline_engine_step_cache_hits", "Step stages served from the cache", request)
        else:
            _count(
                "pipeline_engine_step_cache_misses",
                "Step stages with a cache that ran their step",
                request,
                reason=found.miss or "absent",
            )
        return found.answer

    @activity.defn(name=ACTIVITY_CACHE_WRITE)
    async def write(self, params: CacheWriteInput) -> bool:
        """Keep a stage's result; whether it was kept."""
        request = params.request
        known, version = step_version(self._registry, request.step)
        if self._store is None or not known:
            return False
        return await step_cache.write(
            self._store, request, version, params.result, datetime.now(UTC)
        )

    def activities(self) -> list[Callable[..., Any]]:
        """The two activities, to register on the worker that runs pipeline workflows."""
        return [self.lookup, self.write]


def build_step_cache_activities(
    registry: StepRegistry, store: PayloadStore | None
) -> list[Callable[..., Any]]:
    """The step cache's activities over ``registry`` and ``store``."""
    return StepCacheActivities(registry, store).activities()
