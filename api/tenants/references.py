"""Sub-pipeline references resolved against the tenant's pipelines: when a version is written (an
unknown, archived or cyclic reference is refused, 422) and when a run is created (every version
the run may start pinned into its input: :class:`PinnedPipelines`).

The DSL checks what it is given (:func:`pipeline_engine.dsl._references.resolve_references`);
this module fetches it: the whole closure of references, each version once, bounded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from api.tenants.cache import TenantConfigCache
from api.tenants.pipelines import PipelineStore
from pipeline_engine._interpreter._children import PinnedPipeline, PinnedPipelines
from pipeline_engine.dsl import Plan, parse_config
from pipeline_engine.dsl._references import (
    ResolvedPipeline,
    reference_label,
    resolve_references,
    sub_pipelines,
)
from pipeline_engine.errors import InvalidConfig, Problem
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.named_pipelines import run_config
from pipeline_engine.versions import DocumentField, PipelineVersionRef

__all__ = ["MAX_REFERENCED", "pin_references", "written_references"]

MAX_REFERENCED = 200
"""Distinct references followed from one pipeline, at most (each is a read of the store)."""


class _Closure:
    """The versions reachable from a plan, fetched from the store (each label once)."""

    def __init__(
        self,
        store: PipelineStore,
        cache: TenantConfigCache,
        tenant_id: str,
        own: ResolvedPipeline | None,
    ) -> None:
        self._store = store
        self._cache = cache
        self._tenant_id = tenant_id
        self._own = own
        self.found: dict[str, ResolvedPipeline | str] = {}
        self.prepared: dict[str, tuple[ResolvedPipeline, PreparedConfig]] = {}

    async def fetch(self, plan: Plan) -> None:
        todo = [plan]
        while todo:
            for sub in sub_pipelines(todo.pop()):
                label = reference_label(sub.name, sub.version)
                if label in self.found:
                    continue
                target = await self._one(sub.name, sub.version)
                self.found[label] = target
                if isinstance(target, ResolvedPipeline) and target.version > 0:
                    todo.append(target.plan)

    async def _one(self, name: str, version: int | None) -> ResolvedPipeline | str:
        own = self._own
        if own is not None and name == own.name and version is None:
            return own  # the version being written is the name's latest
        if len(self.found) >= MAX_REFERENCED:
            return f"more than {MAX_REFERENCED} pipelines referenced"
        stored = await self._store.referenced(self._tenant_id, name, version)
        if isinstance(stored, str):
            return stored
        try:
            prepared = self._cache.prepare(self._tenant_id, stored)
        except InvalidConfig as exc:
            first = exc.problems[0] if exc.problems else None
            why = f": {first.path}: {first.message}" if first else ""
            return f"pipeline {name!r} version {stored.version} is not valid{why}"
        found = ResolvedPipeline(stored.name, stored.version, stored.digest, prepared.plan)
        self.prepared[reference_label(stored.name, stored.version)] = (found, prepared)
        return found

    def resolve(self, name: str, version: int | None) -> ResolvedPipeline | str:
        return self.found[reference_label(name, version)]


async def _resolved(
    store: PipelineStore,
    cache: TenantConfigCache,
    tenant_id: str,
    plan: Plan,
    *,
    name: str,
    version: int,
    writing: bool,
) -> tuple[_Closure, dict[str, str]]:
    own = ResolvedPipeline(name, 0, "", plan) if writing else None
    closure = _Closure(store, cache, tenant_id, own)
    await closure.fetch(plan)
    found = resolve_references(plan, closure.resolve, name=name, version=version)
    if found.problems:
        problems = [Problem(p, m) for p, m in found.problems]
        n = len(problems)
        raise InvalidConfig(
            f"invalid sub-pipeline references ({n} problem{'s' if n != 1 else ''})",
            problems=problems,
        )
    return closure, found.labels


async def written_references(
    store: PipelineStore,
    cache: TenantConfigCache,
    tenant_id: str,
    name: str,
    field: DocumentField,
    document: Any,
    schema_version: str,
) -> None:
    """Refuse a new version of ``name`` (already validated) whose sub-pipeline references do not
    resolve, or come back to it (its unpinned name is the version being written).

    Raises:
        InvalidConfig: each bad reference, its JSON path under ``$.config`` or
            ``$.pipeline_definition`` (the field it was written in).
    """
    config = run_config(tenant_id, name, field, document, schema_version)
    plan = parse_config(config)
    if not sub_pipelines(plan):
        return
    try:
        await _resolved(store, cache, tenant_id, plan, name=name, version=0, writing=True)
    except InvalidConfig as exc:
        old, new = ("$", "$.config") if field == "config" else ("$.definition", "$." + field)
        problems = [Problem(new + p.path[len(old) :], p.message) for p in exc.problems]
        raise InvalidConfig(exc.message, problems=problems) from None


async def pin_references(
    store: PipelineStore,
    cache: TenantConfigCache,
    tenant_id: str,
    prepared: PreparedConfig,
    *,
    name: str,
    version: int = 0,
) -> PreparedConfig:
    """``prepared`` with the versions its sub-pipelines run pinned (itself when it has none).

    Args:
        name, version: What ``prepared`` is stored as (``version`` 0: a config not stored).

    Raises:
        InvalidConfig: a reference does not resolve any more (renamed, archived), or cycles.
    """
    if not sub_pipelines(prepared.plan):
        return prepared
    closure, labels = await _resolved(
        store, cache, tenant_id, prepared.plan, name=name, version=version, writing=False
    )
    pipelines = {
        key: PinnedPipeline(
            ref=PipelineVersionRef(name=found.name, version=found.version, digest=found.digest),
            config=sub.config,
            local_steps=sorted(sub.plan.local_defaults),
        )
        for key, (found, sub) in closure.prepared.items()
    }
    return replace(prepared, pinned=PinnedPipelines(labels=labels, pipelines=pipelines))
