"""The step cache's rules, whatever holds its entries: the key of a cached result, the messages
between a run and its cache, and the in-memory cache of the fake engine.

A key is the sha256 of the canonical JSON of (tenant, step, step version, and either the
``cache.key`` expression's value or the step's kwargs, ``previous`` and ``input``). The tenant is
in the key and in the place the entry is kept, so two tenants never share an entry. An entry is
reused while it is younger than the reading step's ``ttl_s``; the writer's ``ttl_s`` says when a
sweep may delete it. The Temporal worker keeps entries in the payload store
(:mod:`workflows.step_cache`); the fake keeps them in memory (:class:`MemoryStepCache`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline_engine.steps import StepRegistry

__all__ = [
    "CacheAnswer",
    "CacheEntry",
    "CacheRequest",
    "MemoryStepCache",
    "cache_key",
    "fresh",
    "new_entry",
    "step_version",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CacheRequest(_Message):
    """A step stage about to run: what its cache key is made of (looked up, then written)."""

    tenant_id: str | None = None
    pipeline_id: str
    stage_id: str
    step: str
    ttl_s: float
    keyed: bool = False
    """The step's ``cache.key`` was given: ``key_value`` is its value (kwargs and the rest are
    then not part of the key)."""
    key_value: Any = None
    kwargs: dict[str, Any] = {}
    previous: Any = None
    input: Any = None


class CacheAnswer(_Message):
    """What a lookup found: the key (always, when the cache could be asked) and a hit."""

    key: str | None = None
    """``None``: the cache is not available here (no store, or the step's version is unknown);
    nothing is written after the step runs."""
    hit: bool = False
    result: Any = None
    from_pipeline_id: str | None = None


class CacheEntry(_Message):
    """What is kept under a key."""

    result: Any = None
    pipeline_id: str
    stage_id: str
    step: str
    version: str | None = None
    created_at: datetime
    expires_at: datetime


def step_version(registry: StepRegistry, step: str) -> tuple[bool, str | None]:
    """(registered here, its ``@step(version=…)``): a step unknown here has no known version, so
    its results are neither looked up nor written (they could be another version's)."""
    if step not in registry:
        return False, None
    return True, registry.get(step).version


def cache_key(request: CacheRequest, version: str | None) -> str:
    """The key of ``request``'s result (see the module docstring)."""
    if request.keyed:
        material: list[Any] = ["key", request.key_value]
    else:
        material = ["args", request.kwargs, request.previous, request.input]
    canonical = json.dumps(
        [request.tenant_id, request.step, version, *material],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_entry(request: CacheRequest, version: str | None, result: Any, now: datetime) -> CacheEntry:
    """The entry ``request``'s stage writes with ``result``."""
    return CacheEntry(
        result=result,
        pipeline_id=request.pipeline_id,
        stage_id=request.stage_id,
        step=request.step,
        version=version,
        created_at=now,
        expires_at=now + timedelta(seconds=request.ttl_s),
    )


def fresh(created_at: datetime, ttl_s: float, now: datetime) -> bool:
    """Whether an entry written at ``created_at`` may be reused by a step of ``ttl_s``."""
    return now - created_at < timedelta(seconds=ttl_s)


@dataclass
class MemoryStepCache:
    """The fake engine's step cache: one per engine, shared by its pipelines, in memory.

    ``hits`` and ``misses`` count lookups (as the worker's metrics do)."""

    entries: dict[tuple[str | None, str], CacheEntry]
    hits: int = 0
    misses: int = 0

    def __init__(self) -> None:
        self.entries = {}
        self.hits = self.misses = 0

    def lookup(self, registry: StepRegistry, request: CacheRequest, now: datetime) -> CacheAnswer:
        """The key of ``request`` and the entry kept under it, if it is fresh."""
        known, version = step_version(registry, request.step)
        if not known:
            return CacheAnswer()
        key = cache_key(request, version)
        entry = self.entries.get((request.tenant_id, key))
        if entry is None or not fresh(entry.created_at, request.ttl_s, now):
            self.misses += 1
            return CacheAnswer(key=key)
        self.hits += 1
        return CacheAnswer(
            key=key, hit=True, result=entry.result, from_pipeline_id=entry.pipeline_id
        )

    def write(
        self, registry: StepRegistry, request: CacheRequest, result: Any, now: datetime
    ) -> None:
        """Keep ``result`` under ``request``'s key (and drop the entries that expired)."""
        known, version = step_version(registry, request.step)
        if not known:
            return
        self.sweep(now)
        key = cache_key(request, version)
        self.entries[(request.tenant_id, key)] = new_entry(request, version, result, now)

    def sweep(self, now: datetime) -> int:
        """Drop expired entries; how many went."""
        expired = [k for k, e in self.entries.items() if e.expires_at <= now]
        for k in expired:
            del self.entries[k]
        return len(expired)
