"""Wire types of the API's other resources, one home for the REST API and the SDK.

:class:`TenantConfig` (``/v1/tenants/{id}/config``), :class:`StepInfo` (``/v1/steps``) and
:class:`PipelineCreated` (the answer of a create or ``/v1/process``). They
also read like the JSON documents they were before (``config["version"]``), for compatibility.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline_engine.states import PipelineState

__all__ = ["PipelineCreated", "StepInfo", "TenantConfig"]


class _Resource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def __getitem__(self, field: str) -> Any:
        """A field by name, as in the JSON document (``config["settings"]``)."""
        if field not in type(self).model_fields:
            raise KeyError(field)
        return getattr(self, field)


class TenantConfig(_Resource):
    """A tenant's stored config (seed 2 shape).

    Attributes:
        tenant_id: The tenant.
        pipeline_definition: The DSL tree its pipelines run (a JSON object).
        settings: Settings every step of the tenant's pipelines sees.
        version: Incremented on every write (pass it back to update: optimistic concurrency).
        updated_at: Time of the last write (UTC).
        priority: Temporal priority key of the tenant's pipelines and their steps, 1 (first) to
            5 (last); ``None``: the server's default (3).
        fairness_weight: The tenant's share of dispatch when tasks back up, against other
            tenants (each tenant is a fairness key); ``None``: 1.0.
    """

    tenant_id: str
    pipeline_definition: Any
    settings: dict[str, Any]
    version: int
    updated_at: datetime
    priority: int | None = None
    fairness_weight: float | None = None


class StepInfo(_Resource):
    """A step registered on the server.

    Attributes:
        name: The registered name.
        description: What it does (its docstring's first line).
        is_async: Whether it is a coroutine function.
        parameters: JSON Schema of its keyword arguments.
    """

    name: str
    description: str | None = None
    is_async: bool
    parameters: dict[str, Any]


class PipelineCreated(_Resource):
    """The answer to a create (``POST /v1/pipelines``) or a run (``POST /v1/process``).

    Attributes:
        pipeline_id: The pipeline.
        state: Its state after the call.
        reused: ``True`` when nothing was created: a pipeline with the same arguments (tenant,
            config, input, idempotency key) exists, and this is its id and current state. Pass
            another ``idempotency_key`` to run again.
    """

    pipeline_id: str
    state: PipelineState
    reused: bool = False
