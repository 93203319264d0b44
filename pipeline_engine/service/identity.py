"""A create request's identity: which pipeline it names, and whether a repeat is the same request.

Written once for every engine: refuse non-finite numbers, prepare the config, fingerprint the
(config, input, settings) and derive the pipeline id (:mod:`pipeline_engine._ids`: keyed by the
server's id secret, with the id the same request had before ids were keyed, so an engine can find a
pipeline created then); a create that lands on an existing id is then checked against that
pipeline's stored fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_engine._finite import refuse_non_finite
from pipeline_engine._ids import (
    DEV_IDS,
    IdRule,
    config_fingerprint,
    legacy_pipeline_id_for,
    pipeline_id_for,
)
from pipeline_engine.dsl import PipelineConfig, Plan
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.service.rules import check_same_request
from pipeline_engine.steps import StepRegistry

__all__ = ["CreateIdentity", "identify_create"]


@dataclass(frozen=True)
class CreateIdentity:
    """Who a create request is.

    Attributes:
        prepared: The request's config, prepared.
        fingerprint: What a repeat of the request must match (config, input, settings).
        pipeline_id: The pipeline the request names.
        idempotency_key: The key the caller sent, if any.
        legacy_id: The id the same request had before ids were keyed by the server secret
            (``None`` when the engine does not look for those).
    """

    prepared: PreparedConfig
    fingerprint: str
    pipeline_id: str
    idempotency_key: str | None
    legacy_id: str | None = None

    @property
    def plan(self) -> Plan:
        """The compiled config."""
        return self.prepared.plan

    def check_repeat(self, stored: str | None, *, pipeline_id: str | None = None) -> None:
        """Raise ``Conflict`` unless the pipeline already there was created by the same request.

        Args:
            stored: The fingerprint recorded by the existing pipeline's create.
            pipeline_id: The existing pipeline (default: :attr:`pipeline_id`).
        """
        check_same_request(
            pipeline_id or self.pipeline_id,
            fingerprint=self.fingerprint,
            stored=stored,
            idempotency_key=self.idempotency_key,
        )


def identify_create(
    config: PreparedConfig | PipelineConfig | dict[str, Any] | str,
    *,
    registry: StepRegistry | None,
    tenant_id: str | None,
    input: Any,
    settings: dict[str, Any] | None,
    idempotency_key: str | None,
    ids: IdRule = DEV_IDS,
) -> CreateIdentity:
    """The identity of a create request: same request, same pipeline id (``ids``: the engine's
    id rule).

    Raises:
        InvalidInput: ``input`` or ``settings`` hold a number JSON cannot carry.
        InvalidConfig: the config is not valid (every problem, with its JSON path).
    """
    refuse_non_finite(input=input, settings=settings)
    prepared = PreparedConfig.of(config, registry=registry)
    parsed = prepared.plan.config
    fingerprint = config_fingerprint(parsed, input, settings, canonical_config=prepared.canonical)
    parts: dict[str, Any] = {
        "tenant_id": tenant_id,
        "config": parsed,
        "input": input,
        "idempotency_key": idempotency_key,
        "settings": settings,
        "fingerprint": fingerprint,
        "ids": ids,
    }
    pid = pipeline_id_for(**parts)
    return CreateIdentity(
        prepared, fingerprint, pid, idempotency_key, legacy_id=legacy_pipeline_id_for(**parts)
    )
