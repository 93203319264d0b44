"""Request and response bodies of the REST API (unknown fields of a request are rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline_engine.resources import StepInfo, TenantConfig
from pipeline_engine.service.tenant_configs import (
    FAIRNESS_WEIGHT_MAX,
    FAIRNESS_WEIGHT_MIN,
    PRIORITY_LEVELS,
)
from pipeline_engine.versions import MAX_VERSION

__all__ = [
    "ALIAS_NAME",
    "PIPELINE_NAME",
    "AliasBody",
    "CancelBody",
    "CodecPayloads",
    "CreateBatchBody",
    "CreatePipelineBody",
    "GraphEdgeOut",
    "GraphNodeOut",
    "GraphOut",
    "GraphProblemOut",
    "InputBody",
    "PipelineCounts",
    "PipelineRef",
    "PipelineVersionBody",
    "ProcessBody",
    "RetryBody",
    "RollbackBody",
    "StepInfo",
    "TenantConfig",
    "TenantConfigBody",
]

TENANT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
PIPELINE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
ALIAS_NAME = r"^[A-Za-z][A-Za-z0-9._-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(**example: Any) -> ConfigDict:
    """A request body model that rejects unknown fields, with ``example`` in its schema."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


_SEED_DEFINITION = {
    "type": "chain",
    "steps": [
        {"type": "step", "name": "segmentation"},
        {"type": "step", "name": "detection", "kwargs": {"segment_type": "cajon"}},
    ],
}


class CreatePipelineBody(_Body):
    """``POST /v1/pipelines``: a pipeline from any config (created in PENDING)."""

    model_config = _example(
        config={"schema_version": "1", "name": "crates", "definition": _SEED_DEFINITION},
        input={"image_path": "/data/crates.png"},
        tenant_id="cultivos-abc",
        idempotency_key="batch-2024-06-01",
    )

    config: dict[str, Any] = Field(
        description="A PipelineConfig document (JSON Schema at /v1/schema/pipeline-config)."
    )
    input: Any = Field(None, description="The pipeline input every step sees.")
    tenant_id: str = Field(pattern=TENANT_ID, description="One of the caller's tenants.")
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The same key (for the same tenant) gives the same pipeline; with other "
        "arguments it is a 409.",
    )


class PipelineRef(BaseModel):
    """A pipeline and its state."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pipeline_id": "pl-0123abcd", "state": "RUNNING"}]}
    )

    pipeline_id: str = Field(description="The pipeline (also its Temporal workflow id).")
    state: str = Field(description="PENDING, RUNNING, WAITING_INPUT, SUCCEEDED, FAILED, CANCELLED.")
    reused: bool = Field(
        False,
        description="Only in a create's answer: true when nothing was created because a pipeline "
        "with the same arguments (tenant, config, input, idempotency key) exists: its id and "
        "current state are returned (status 200 instead of 201). Send another idempotency_key "
        "to run again.",
    )


class CancelBody(_Body):
    """``POST /v1/pipelines/{id}/cancel``."""

    model_config = _example(reason="wrong batch")

    reason: str = Field("", max_length=2000, description="Why (recorded in the events).")


class RetryBody(_Body):
    """``POST /v1/pipelines/{id}/stages/{stage_id}/retry`` and ``POST /v1/pipelines/{id}/retry``."""

    model_config = _example(reason="model server back up")

    reason: str = Field("", max_length=2000, description="Why (recorded in the events).")


class InputBody(_Body):
    """``POST /v1/pipelines/{id}/input``."""

    model_config = _example(payload={"approved": True}, responder="Ana", stage_id="approval")

    payload: Any = Field(None, description="The answer; must satisfy the input's JSON Schema.")
    responder: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A display name only: the responder recorded is the caller's token subject.",
    )
    stage_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Which input element, when several wait (see the status' waiting_inputs).",
    )


class TenantConfigBody(_Body):
    """``PUT /v1/tenants/{tenant_id}/config``: the tenant's pipeline and settings."""

    model_config = _example(
        tenant_id="cultivos-abc",
        pipeline_definition=_SEED_DEFINITION,
        settings={"species": ["tomate", "lechuga"]},
        priority=2,
        version=3,
    )

    pipeline_definition: Any = Field(description="The DSL tree (usually a chain).")
    settings: dict[str, Any] | None = Field(None, description="Settings every step sees.")
    tenant_id: str | None = Field(None, description="If given, must equal the path's tenant.")
    version: int | None = Field(
        None, ge=0, description="Optimistic concurrency: the current version (0: must not exist)."
    )
    priority: int | None = Field(
        None,
        ge=1,
        le=PRIORITY_LEVELS,
        strict=True,
        description="Temporal priority key of the tenant's pipelines and their steps: 1 runs "
        f"first, {PRIORITY_LEVELS} last; unset: the server's default (3). Only orders work that "
        "waits in a task queue.",
    )
    fairness_weight: float | None = Field(
        None,
        ge=FAIRNESS_WEIGHT_MIN,
        le=FAIRNESS_WEIGHT_MAX,
        allow_inf_nan=False,
        description="The tenant's share of dispatch against other tenants when tasks back up "
        "(unset: 1.0; 2.0 gets twice the share of a tenant at 1.0).",
    )


class ProcessBody(_Body):
    """``POST /v1/process``: run the tenant's configured pipeline on an input."""

    model_config = _example(
        tenant_id="cultivos-abc", input={"image_path": "/data/crates.png"}, idempotency_key="b-17"
    )

    tenant_id: str = Field(pattern=TENANT_ID, description="A tenant with a stored config.")
    input: Any = Field(None, description="The pipeline input every step sees.")
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The same key gives the same pipeline; with another input it is a 409.",
    )
    pipeline: str = Field(
        "default",
        pattern=PIPELINE_NAME,
        description="Which of the tenant's named pipelines (default: the tenant config's).",
    )
    version: int | None = Field(
        None,
        ge=1,
        le=MAX_VERSION,
        strict=True,
        description="Run this version (default: the alias, else latest).",
    )
    alias: str | None = Field(
        None,
        pattern=ALIAS_NAME,
        description="Run the version this alias points at (default: `live` when it exists, "
        "else the latest version); a canary share is chosen by a hash of the input.",
    )


class CreateBatchBody(_Body):
    """``POST /v1/batches`` (JSON): one pipeline of the tenant's config per input.

    For more inputs than a JSON body takes, send them as ``application/x-ndjson`` (one input a
    line) with ``tenant_id`` and the other fields in the query string.
    """

    model_config = _example(
        tenant_id="cultivos-abc",
        inputs=[{"image_path": "/data/a.png"}, {"image_path": "/data/b.png"}],
        max_running=50,
    )

    tenant_id: str = Field(pattern=TENANT_ID, description="One of the caller's tenants.")
    pipeline: str | None = Field(
        None, max_length=200, description="The tenant's pipeline to run (default: `default`)."
    )
    version: int | None = Field(
        None, ge=1, description="That pipeline's version (default: latest)."
    )
    inputs: list[Any] = Field(
        max_length=100_000, description="One input per pipeline (at most 100,000)."
    )
    max_running: int | None = Field(
        None, ge=1, le=10_000, description="At most this many of its pipelines run at once (100)."
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The same key (for the same tenant) gives the same batch; with other "
        "arguments it is a 409.",
    )


class PipelineCounts(BaseModel):
    """How many pipelines match, in total and per state."""

    total: int
    by_state: dict[str, int] = Field(description="State -> count (states with none are left out).")


class GraphNodeOut(BaseModel):
    """One node: a stage, or a fan-out standing for many stages."""

    id: str
    kind: str = Field(
        description="step, input, group (a wide group), map (run-time fan-out), switch, or "
        "pipeline (a sub-pipeline; the nodes of its child name it as parent)."
    )
    label: str
    path: str = Field(description="JSON path of the element in the config.")
    step: str | None = None
    stages: list[str] = Field(description="Stage ids this node stands for.")
    run_prefixes: list[str] = Field(
        default_factory=list, description="Its stages' run-time copies are ``<prefix>[<i>]``."
    )
    parent: str | None = Field(None, description="The sub-pipeline node it is drawn inside.")


class GraphEdgeOut(BaseModel):
    """Data flows from ``source`` to ``target``."""

    source: str
    target: str


class GraphProblemOut(BaseModel):
    """A validation problem and the node it concerns (``None``: the config as a whole)."""

    path: str
    message: str
    node: str | None = None


class GraphOut(BaseModel):
    """A pipeline or config drawn as a graph."""

    name: str
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]
    problems: list[GraphProblemOut] = Field(default_factory=list)


MAX_CODEC_PAYLOADS = 200
"""Most payloads one codec request may carry (2,000 were resolved one by one)."""


class CodecPayloads(BaseModel):
    """Payloads as the Temporal Web UI's codec protocol carries them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payloads": [
                        {
                            "metadata": {"encoding": "anNvbi9wbGFpbg=="},
                            "data": "eyJuIjogNDJ9",
                        }
                    ]
                }
            ]
        }
    )

    payloads: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_CODEC_PAYLOADS,
        description="Protobuf JSON of temporal.api.common.v1.Payload (base64 metadata and data); "
        f"at most {MAX_CODEC_PAYLOADS} per request.",
    )


class PipelineVersionBody(_Body):
    """``PUT /v1/tenants/{t}/pipelines/{name}``: a new version (a DSL tree or a whole config)."""

    model_config = _example(pipeline_definition=_SEED_DEFINITION, message="new detection model")

    pipeline_definition: Any = Field(
        None, description="The DSL tree (as in the tenant config); or give `config`."
    )
    config: dict[str, Any] | None = Field(
        None, description="A whole PipelineConfig document; or give `pipeline_definition`."
    )
    message: str | None = Field(None, max_length=2000, description="Why (kept with the version).")


class RollbackBody(_Body):
    """``POST /v1/tenants/{t}/pipelines/{name}/rollback``: a new version equal to an older one."""

    model_config = _example(to=2, message="v3 misses crates")

    to: int = Field(ge=1, le=MAX_VERSION, strict=True, description="The version to copy.")
    message: str | None = Field(None, max_length=2000, description="Why (kept with the version).")


class AliasBody(_Body):
    """``PUT /v1/tenants/{t}/pipelines/{name}/aliases/{alias}``."""

    model_config = _example(version=2, canary_version=3, canary_percent=10)

    version: int = Field(
        ge=1, le=MAX_VERSION, strict=True, description="The version the alias runs."
    )
    canary_version: int | None = Field(
        None,
        ge=1,
        le=MAX_VERSION,
        strict=True,
        description="Another version a share of runs gets instead.",
    )
    canary_percent: float | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="The share of runs (0 to 100) that get canary_version, chosen by a hash of "
        "the input: the same input always runs the same version.",
    )
