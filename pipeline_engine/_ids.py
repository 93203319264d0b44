"""Pipeline id derivation: one pure rule shared by the Temporal engine and the fake engine.

Same arguments, same id. With an idempotency key the id depends on (tenant, key) only, so reusing
a key with other arguments is detected (through :func:`config_fingerprint`) as a conflict instead
of silently creating another pipeline.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline_engine.dsl import PipelineConfig

__all__ = ["canonical_json", "config_fingerprint", "pipeline_id_for"]


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def config_fingerprint(
    config: PipelineConfig, input: Any, settings: dict[str, Any] | None = None
) -> str:
    """SHA-256 of the canonical (config, input, tenant settings): what a repeat must match.

    Settings count only when there are some, so a pipeline without tenant settings keeps the id
    it always had.
    """
    doc: dict[str, Any] = {"config": config.model_dump(mode="json", by_alias=True), "input": input}
    if settings:
        doc["settings"] = settings
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def pipeline_id_for(
    *,
    tenant_id: str | None,
    config: PipelineConfig,
    input: Any,
    idempotency_key: str | None,
    settings: dict[str, Any] | None = None,
) -> str:
    """The pipeline id for these arguments: same arguments, same id.

    Args:
        tenant_id: The owning tenant (``None`` for none).
        config: The parsed pipeline config.
        input: The pipeline input (any JSON value).
        idempotency_key: When given, the id depends on (tenant, key) only.
        settings: The tenant settings the steps will see (a changed setting is a new pipeline).

    Returns:
        ``"pl-"`` followed by 24 hex digits.
    """
    basis = (
        idempotency_key
        if idempotency_key is not None
        else config_fingerprint(config, input, settings)
    )
    key = canonical_json([tenant_id, idempotency_key is not None, basis])
    digest = hashlib.sha256(key.encode())
    return "pl-" + digest.hexdigest()[:24]
