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

__all__ = [
    "batch_member_key",
    "canonical_json",
    "config_fingerprint",
    "keyed_id",
    "pipeline_id_for",
]


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def config_fingerprint(
    config: PipelineConfig,
    input: Any,
    settings: dict[str, Any] | None = None,
    *,
    canonical_config: str | None = None,
) -> str:
    """SHA-256 of the canonical (config, input, tenant settings): what a repeat must match.

    Settings count only when there are some, so a pipeline without tenant settings keeps the id
    it always had. ``canonical_config`` (the config's canonical JSON, computed once for a stored
    config) spares serialising ``config`` again: the digest is the same.
    """
    if canonical_config is None:
        canonical_config = canonical_json(config.model_dump(mode="json", by_alias=True))
    # canonical_json({"config": …, "input": …, "settings": …}) written piece by piece: the keys
    # in sorted order, the config's text as it is
    digest = hashlib.sha256(b'{"config":')
    digest.update(canonical_config.encode())
    digest.update(b',"input":')
    digest.update(canonical_json(input).encode())
    if settings:
        digest.update(b',"settings":')
        digest.update(canonical_json(settings).encode())
    digest.update(b"}")
    return digest.hexdigest()


def pipeline_id_for(
    *,
    tenant_id: str | None,
    config: PipelineConfig,
    input: Any,
    idempotency_key: str | None,
    settings: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> str:
    """The pipeline id for these arguments: same arguments, same id.

    Args:
        tenant_id: The owning tenant (``None`` for none).
        config: The parsed pipeline config.
        input: The pipeline input (any JSON value).
        idempotency_key: When given, the id depends on (tenant, key) only.
        settings: The tenant settings the steps will see (a changed setting is a new pipeline).
        fingerprint: :func:`config_fingerprint` of these arguments, when already computed.

    Returns:
        ``"pl-"`` followed by 24 hex digits.
    """
    if idempotency_key is not None:
        return keyed_id(tenant_id, idempotency_key)
    basis = fingerprint or config_fingerprint(config, input, settings)
    return _derived("pl-", [tenant_id, False, basis])


def _derived(prefix: str, parts: list[Any]) -> str:
    return prefix + hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:24]


def keyed_id(tenant_id: str | None, idempotency_key: str, *, prefix: str = "pl-") -> str:
    """The id of what a tenant created with ``idempotency_key`` (a pipeline by default)."""
    return _derived(prefix, [tenant_id, True, idempotency_key])


def batch_member_key(batch_id: str, index: int) -> str:
    """The idempotency key of a batch's pipeline: its id follows from the batch id and index."""
    return f"batch:{batch_id}:{index}"
