"""The messages of ``BatchWorkflow`` and its activities (one input object each)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.versions import PipelineVersionRef

__all__ = [
    "BatchCancelRequest",
    "BatchCounts",
    "BatchCountsRequest",
    "BatchOutcome",
    "BatchProgress",
    "BatchStartRequest",
    "BatchWorkflowInput",
    "CancelBatchPipelines",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _WithRef(_Message):
    pipeline_ref: PipelineVersionRef | None = None
    """The stored pipeline version the batch runs (``None``: a raw config)."""

    @model_serializer(mode="wrap")
    def _no_null_ref(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # left out when unset, so a message without an origin is the shape workers already read
        data: dict[str, Any] = handler(self)
        if data.get("pipeline_ref", 0) is None:
            del data["pipeline_ref"]
        return data


class BatchCancelRequest(_Message):
    """Cancel a batch: no pipeline starts any more, the running ones are cancelled."""

    reason: str = ""
    actor: str | None = None


class BatchWorkflowInput(_WithRef):
    """What a batch runs: one pipeline of ``config`` per input, ``max_running`` at once."""

    batch_id: str
    tenant_id: str | None = None
    config: PipelineConfig
    settings: dict[str, Any] = Field(default_factory=dict)
    priority_key: int | None = None
    fairness_weight: float | None = None
    total: int = Field(ge=0)
    max_running: int = Field(ge=1)
    inline_inputs: list[Any] | None = Field(
        None, description="The inputs themselves when there is no payload store (a small batch)."
    )
    started: int = Field(0, ge=0, description="Pipelines started by earlier runs (continued).")
    cancel: BatchCancelRequest | None = None
    pinned: PinnedPipelines | None = None
    """The versions the config's sub-pipelines run, pinned when the batch was submitted."""


class BatchStartRequest(_WithRef):
    """Start (idempotently) the batch's pipelines ``start`` to ``start + count``."""

    batch_id: str
    tenant_id: str | None = None
    config: PipelineConfig
    settings: dict[str, Any] = Field(default_factory=dict)
    priority_key: int | None = None
    fairness_weight: float | None = None
    start: int = Field(ge=0)
    count: int = Field(ge=1)
    inputs: list[Any] | None = Field(None, description="These inputs, when kept inline.")
    pinned: PinnedPipelines | None = None
    """The batch's pinned sub-pipelines (every pipeline of it runs the same versions)."""


class BatchCountsRequest(_Message):
    """Count a batch's pipelines by state (Temporal visibility)."""

    batch_id: str


class BatchCounts(_Message):
    """How many of a batch's pipelines Temporal lists in each state."""

    counts: dict[str, int] = Field(default_factory=dict)


class CancelBatchPipelines(_Message):
    """Cancel every pipeline of the batch that has not ended."""

    batch_id: str
    reason: str = ""
    actor: str | None = None


class BatchProgress(_Message):
    """The answer of the batch's ``progress`` query."""

    started: int
    total: int
    cancel: BatchCancelRequest | None = None


class BatchOutcome(_Message):
    """A batch's workflow result: its state once every pipeline ended or is held FAILED."""

    state: str
    counts: dict[str, int] = Field(default_factory=dict)
    started: int = 0
