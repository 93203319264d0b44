"""Pipeline id derivation: one pure rule shared by the Temporal engine and the fake engine.

Same arguments, same id. With an idempotency key the id depends on (tenant, key) only, so reusing
a key with other arguments is detected (through :func:`config_fingerprint`) as a conflict instead
of silently creating another pipeline.

Ids are an HMAC-SHA256 keyed by a server secret (:class:`IdRule`, ``PIPELINE_ENGINE_ID_SECRET``):
a plain hash of (tenant, config, input) let anyone who can guess a config and an input compute the
id and ask whether it exists. Pipelines, batches (``bt-``), a batch's pipelines and trigger
deliveries all take their ids from this one rule. Ids made before the secret (plain SHA-256 of the
same parts, :meth:`IdRule.legacy`) keep working: every route takes any id, and a create first
looks for the id the same request had then (:attr:`IdRule.legacy_lookup`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.settings import DEV_ID_SECRET, Settings

__all__ = [
    "DEV_IDS",
    "IdRule",
    "batch_member_key",
    "canonical_json",
    "config_fingerprint",
    "keyed_id",
    "legacy_keyed_id",
    "legacy_pipeline_id_for",
    "pipeline_id_for",
]


@dataclass(frozen=True)
class IdRule:
    """How ids are derived: keyed by ``secret``; ``legacy_lookup`` also finds pre-secret ids.

    Every process that creates pipelines (API, workers running batches) must hold the same secret,
    or the same request gets two ids.
    """

    secret: bytes = field(repr=False)
    legacy_lookup: bool = True

    @classmethod
    def of(cls, secret: str, *, legacy_lookup: bool = True) -> IdRule:
        """The rule keyed by ``secret``'s UTF-8 bytes."""
        return cls(secret.encode(), legacy_lookup)

    @classmethod
    def from_settings(cls, settings: Settings) -> IdRule:
        """The rule of ``PIPELINE_ENGINE_ID_SECRET`` and ``…_ID_LEGACY_LOOKUP``."""
        return cls.of(
            settings.id_secret.get_secret_value(), legacy_lookup=settings.id_legacy_lookup
        )

    def derive(self, prefix: str, parts: list[Any]) -> str:
        """``prefix`` and 24 hex digits of the HMAC of ``parts``' canonical JSON."""
        mac = hmac.new(self.secret, canonical_json(parts).encode(), hashlib.sha256)
        return prefix + mac.hexdigest()[:24]

    def legacy(self, prefix: str, parts: list[Any]) -> str | None:
        """The id ``parts`` had before ids were keyed (``None`` when not looked up)."""
        if not self.legacy_lookup:
            return None
        return prefix + hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:24]


DEV_IDS = IdRule.of(DEV_ID_SECRET)
"""The rule of the dev secret (the local engine's and the tests' default)."""


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


def _id_parts(
    tenant_id: str | None,
    config: PipelineConfig,
    input: Any,
    idempotency_key: str | None,
    settings: dict[str, Any] | None,
    fingerprint: str | None,
) -> list[Any]:
    if idempotency_key is not None:
        return [tenant_id, True, idempotency_key]
    return [tenant_id, False, fingerprint or config_fingerprint(config, input, settings)]


def pipeline_id_for(
    *,
    tenant_id: str | None,
    config: PipelineConfig,
    input: Any,
    idempotency_key: str | None,
    ids: IdRule,
    settings: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> str:
    """The pipeline id for these arguments: same arguments, same id.

    Args:
        tenant_id: The owning tenant (``None`` for none).
        config: The parsed pipeline config.
        input: The pipeline input (any JSON value).
        idempotency_key: When given, the id depends on (tenant, key) only.
        ids: The id rule (its secret).
        settings: The tenant settings the steps will see (a changed setting is a new pipeline).
        fingerprint: :func:`config_fingerprint` of these arguments, when already computed.

    Returns:
        ``"pl-"`` followed by 24 hex digits.
    """
    parts = _id_parts(tenant_id, config, input, idempotency_key, settings, fingerprint)
    return ids.derive("pl-", parts)


def legacy_pipeline_id_for(
    *,
    tenant_id: str | None,
    config: PipelineConfig,
    input: Any,
    idempotency_key: str | None,
    ids: IdRule,
    settings: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> str | None:
    """:func:`pipeline_id_for` as it was before ids were keyed: a plain SHA-256 (``None`` unless
    ``ids.legacy_lookup``)."""
    parts = _id_parts(tenant_id, config, input, idempotency_key, settings, fingerprint)
    return ids.legacy("pl-", parts)


def keyed_id(
    tenant_id: str | None, idempotency_key: str, *, ids: IdRule, prefix: str = "pl-"
) -> str:
    """The id of what a tenant created with ``idempotency_key`` (a pipeline by default)."""
    return ids.derive(prefix, [tenant_id, True, idempotency_key])


def legacy_keyed_id(
    tenant_id: str | None, idempotency_key: str, *, ids: IdRule, prefix: str = "pl-"
) -> str | None:
    """:func:`keyed_id` as it was before ids were keyed (``None`` unless ``ids.legacy_lookup``)."""
    return ids.legacy(prefix, [tenant_id, True, idempotency_key])


def batch_member_key(batch_id: str, index: int) -> str:
    """The idempotency key of a batch's pipeline: its id follows from the batch id and index."""
    return f"batch:{batch_id}:{index}"
