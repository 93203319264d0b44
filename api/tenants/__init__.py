"""Tenant configurations (seed 2): the ``tenant_config`` table, its store, the validated cache."""

from api.tenants.cache import CachedConfig, TenantConfigCache
from api.tenants.store import TenantConfigRow, TenantConfigStore

__all__ = [
    "CachedConfig",
    "TenantConfigCache",
    "TenantConfigRow",
    "TenantConfigStore",
]
