"""Tenant configurations (seed 2): the ``tenant_config`` table, its store, the validated cache."""

from api.tenants.cache import CachedConfig, TenantConfigCache
from api.tenants.store import TenantConfigRow, TenantConfigStore
from api.tenants.validation import definition_config, validate_tenant_config

__all__ = [
    "CachedConfig",
    "TenantConfigCache",
    "TenantConfigRow",
    "TenantConfigStore",
    "definition_config",
    "validate_tenant_config",
]
