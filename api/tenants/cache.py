"""``TenantConfigCache``: every tenant config, validated at load; invalid rows reported, not served.

Seed 2: pydantic validates the structure, then the step registry checks every step exists, then the
cache keeps the validated config. Writes through this API refresh it at once; changes made by other
replicas are picked up by :meth:`TenantConfigCache.refresh` (run periodically), which compares each
row's ``version`` with the cached one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cachetools import LRUCache

from api.tenants.store import TenantConfigRow, TenantConfigStore
from pipeline_engine.errors import InvalidConfig, PipelineError
from pipeline_engine.service.engine import TaskPriority
from pipeline_engine.service.named_pipelines import run_config
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.service.tenant_configs import no_tenant_config, validate_tenant_config
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import StoredPipeline

__all__ = ["CachedConfig", "TenantConfigCache"]

log = logging.getLogger("api.tenants")


@dataclass(frozen=True)
class CachedConfig:
    """A validated tenant config, ready to run.

    Attributes:
        tenant_id: The tenant.
        config: The pipeline config built from the tenant's definition, compiled (the plan and
            canonical JSON every pipeline created from it uses: see :class:`PreparedConfig`).
        settings: The tenant's settings.
        version: The row version it was loaded from.
        updated_at: The row's last write.
        priority: How the tenant's tasks are ordered when they back up.
    """

    tenant_id: str
    config: PreparedConfig
    settings: dict[str, Any]
    version: int
    updated_at: datetime
    priority: TaskPriority = field(default_factory=TaskPriority)


@dataclass(frozen=True)
class InvalidRow:
    """A stored config that failed validation.

    Attributes:
        version: The row version that failed.
        updated_at: The row's last write.
        problems: ``{"path", "message"}`` of each problem.
        tenant: The tenant's settings and priority when they are valid (only its ``default``
            pipeline is not), so its other pipelines still run.
    """

    version: int
    updated_at: datetime
    problems: list[dict[str, Any]] = field(default_factory=list)
    tenant: tuple[dict[str, Any], TaskPriority] | None = None


_TENANT_FIELDS = ("$.settings", "$.priority", "$.fairness_weight")
_PREPARED_VERSIONS = 1024


def _priority(row: TenantConfigRow) -> TaskPriority:
    return TaskPriority(row.priority, row.fairness_weight)


class TenantConfigCache:
    """Validated tenant configs in memory, refreshed from the store.

    Args:
        store: Where configs live.
        registry: Steps that definitions are validated against.
    """

    def __init__(self, store: TenantConfigStore, registry: StepRegistry | None) -> None:
        self._store = store
        self._registry = registry
        self._valid: dict[str, CachedConfig] = {}
        self._invalid: dict[str, InvalidRow] = {}
        self._loaded = False
        self._last_error: str | None = None
        self._lock = asyncio.Lock()
        self._prepared: LRUCache[tuple[str, str, int, str], PreparedConfig] = LRUCache(
            _PREPARED_VERSIONS
        )

    @property
    def loaded(self) -> bool:
        """Whether a full load has succeeded at least once."""
        return self._loaded

    def validate(self, row: TenantConfigRow) -> CachedConfig:
        """Validate one row (raises ``InvalidConfig``)."""
        config = validate_tenant_config(
            row.tenant_id,
            row.pipeline_definition,
            row.settings,
            registry=self._registry,
            priority=row.priority,
            fairness_weight=row.fairness_weight,
        )
        return CachedConfig(
            row.tenant_id,
            PreparedConfig.of(config, registry=self._registry),
            dict(row.settings),
            row.version,
            row.updated_at,
            _priority(row),
        )

    def apply(self, row: TenantConfigRow) -> None:
        """Put one row in the cache (or in the invalid list when it does not validate)."""
        try:
            cached = self.validate(row)
        except InvalidConfig as exc:
            self._valid.pop(row.tenant_id, None)
            own = any(p.path.startswith(_TENANT_FIELDS) for p in exc.problems)
            tenant = None if own else (dict(row.settings), _priority(row))
            self._invalid[row.tenant_id] = InvalidRow(
                row.version, row.updated_at, exc.details, tenant
            )
            log.warning(
                "tenant config %r (version %d) is invalid and not served: %s",
                row.tenant_id,
                row.version,
                "; ".join(str(p) for p in exc.problems),
            )
            return
        self._invalid.pop(row.tenant_id, None)
        self._valid[row.tenant_id] = cached

    def forget(self, tenant_id: str) -> None:
        """Drop a tenant (its config was deleted)."""
        self._valid.pop(tenant_id, None)
        self._invalid.pop(tenant_id, None)

    def _stamp(self, tenant_id: str) -> tuple[int, datetime] | None:
        found = self._valid.get(tenant_id) or self._invalid.get(tenant_id)
        return (found.version, found.updated_at) if found is not None else None

    async def load_all(self) -> None:
        """Load and validate every row; one invalid row does not stop the others."""
        async with self._lock:
            try:
                rows = await self._store.all()
            except PipelineError as exc:
                self._last_error = exc.message
                raise
            self._valid.clear()
            self._invalid.clear()
            for row in rows:
                self.apply(row)
            self._loaded = True
            self._last_error = None
            log.info(
                "tenant configs loaded: %d valid, %d invalid", len(self._valid), len(self._invalid)
            )

    async def refresh(self) -> int:
        """Reload rows whose version or write time changed, drop deleted ones; returns how many.

        The write time catches a config deleted and created again (back at version 1) between
        two refreshes.
        """
        if not self._loaded:
            await self.load_all()
            return len(self._valid) + len(self._invalid)
        async with self._lock:
            try:
                versions = await self._store.versions()
            except PipelineError as exc:
                self._last_error = exc.message
                raise
            known = set(self._valid) | set(self._invalid)
            gone = known - set(versions)
            changed = [t for t, stamp in versions.items() if self._stamp(t) != stamp]
            for tenant_id in gone:
                self.forget(tenant_id)
            for row in await self._store.get_many(changed):
                self.apply(row)
            self._last_error = None
            return len(gone) + len(changed)

    async def run_refresher(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` seconds until cancelled (errors are logged, not raised)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except PipelineError as exc:
                log.warning("tenant config refresh failed: %s", exc.message)
            except Exception:
                log.exception("tenant config refresh failed")

    def get(self, tenant_id: str) -> CachedConfig:
        """The tenant's validated config.

        Raises:
            TenantNotFound: No config is stored for the tenant.
            InvalidConfig: The stored config is invalid (its problems listed), so it is not served.
        """
        found = self._valid.get(tenant_id)
        if found is not None:
            return found
        bad = self._invalid.get(tenant_id)
        if bad is not None:
            raise InvalidConfig(
                f"the stored config of tenant {tenant_id!r} is invalid and not served",
                details=bad.problems,
            )
        raise no_tenant_config(tenant_id)

    def tenant_ids(self) -> list[str]:
        """The tenants with a valid config in the cache."""
        return list(self._valid)

    def priority_of(self, tenant_id: str | None) -> TaskPriority | None:
        """The tenant's priority when it has a valid config (``None`` otherwise: the default)."""
        found = self._valid.get(tenant_id) if tenant_id is not None else None
        return found.priority if found is not None else None

    async def lookup(self, tenant_id: str) -> CachedConfig:
        """The tenant's validated config, read from the store when this cache has never seen it.

        A config just written through another API process (or replica) is then served at once
        instead of after the next refresh; a change to a config already cached still waits for
        the refresh (``PIPELINE_ENGINE_CONFIG_REFRESH_S``).

        Raises:
            TenantNotFound: No config is stored for the tenant.
            InvalidConfig: The stored config is invalid.
        """
        if self._stamp(tenant_id) is None:
            row = await self._store.get(tenant_id)
            if row is not None and self._stamp(tenant_id) is None:  # no refresh came first
                self.apply(row)
        return self.get(tenant_id)

    async def tenant(self, tenant_id: str) -> tuple[dict[str, Any], TaskPriority] | None:
        """The tenant's settings and priority (``None``: it has no config row).

        Raises:
            InvalidConfig: The stored settings or priority themselves are invalid.
        """
        if self._stamp(tenant_id) is None:
            row = await self._store.get(tenant_id)
            if row is None:
                return None
            if self._stamp(tenant_id) is None:
                self.apply(row)
        found = self._valid.get(tenant_id)
        if found is not None:
            return found.settings, found.priority
        bad = self._invalid.get(tenant_id)
        if bad is not None and bad.tenant is not None:
            return bad.tenant
        self.get(tenant_id)  # raises: the settings themselves are what is invalid
        raise no_tenant_config(tenant_id)

    def prepare(self, tenant_id: str, stored: StoredPipeline) -> PreparedConfig:
        """A stored version compiled to run, kept (versions never change) for the next run.

        Raises:
            InvalidConfig: The version does not validate (any more) against the registry.
        """
        key = (tenant_id, stored.name, stored.version, stored.digest)
        found = self._prepared.get(key)
        if found is None:
            document = run_config(
                tenant_id, stored.name, stored.field, stored.document, stored.schema_version
            )
            prepared = PreparedConfig.of(document, registry=self._registry)
            found = self._prepared[key] = replace(prepared, ref=stored.ref)
        return found

    def counts(self) -> tuple[int, int]:
        """(valid, invalid) configs in the cache."""
        return len(self._valid), len(self._invalid)

    def report(self) -> dict[str, Any]:
        """What ``/readyz`` shows: counts and the problems of every invalid row."""
        return {
            "loaded": self._loaded,
            "valid": len(self._valid),
            "invalid": {
                t: {"version": bad.version, "problems": bad.problems}
                for t, bad in sorted(self._invalid.items())
            },
            "error": self._last_error,
        }
