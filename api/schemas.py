"""Request and response bodies of the REST API (unknown fields are rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline_engine.resources import StepInfo, TenantConfig

__all__ = [
    "CancelBody",
    "CreatePipelineBody",
    "InputBody",
    "PipelineRef",
    "ProcessBody",
    "RetryBody",
    "StepInfo",
    "TenantConfig",
    "TenantConfigBody",
]

TENANT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreatePipelineBody(_Body):
    """``POST /v1/pipelines``."""

    config: dict[str, Any] = Field(
        description="A PipelineConfig document (JSON Schema at /v1/schema/pipeline-config)."
    )
    input: Any = Field(None, description="The pipeline input every step sees.")
    tenant_id: str = Field(pattern=TENANT_ID, description="One of the caller's tenants.")
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class PipelineRef(BaseModel):
    """A pipeline and its state."""

    pipeline_id: str
    state: str


class CancelBody(_Body):
    """``POST /v1/pipelines/{id}/cancel``."""

    reason: str = Field("", max_length=2000)


class RetryBody(_Body):
    """``POST /v1/pipelines/{id}/stages/{stage_id}/retry``."""

    reason: str = Field("", max_length=2000)


class InputBody(_Body):
    """``POST /v1/pipelines/{id}/input``."""

    payload: Any = None
    responder: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A display name only: the responder recorded is the caller's token subject.",
    )
    stage_id: str | None = Field(None, min_length=1, max_length=255)


class TenantConfigBody(_Body):
    """``PUT /v1/tenants/{tenant_id}/config`` (seed 2 shape)."""

    pipeline_definition: Any = Field(description="The DSL tree (usually a chain).")
    settings: dict[str, Any] | None = Field(None, description="Settings every step sees.")
    tenant_id: str | None = Field(None, description="If given, must equal the path's tenant.")
    version: int | None = Field(
        None, ge=0, description="Optimistic concurrency: the current version (0: must not exist)."
    )


class ProcessBody(_Body):
    """``POST /v1/process``: run the tenant's configured pipeline on an input."""

    tenant_id: str = Field(pattern=TENANT_ID)
    input: Any = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
