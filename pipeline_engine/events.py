"""Events in a pipeline's log, and metric points streamed while it runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EVENT_SCHEMA_VERSION", "TERMINAL_EVENT_TYPES", "Event", "EventType", "MetricPoint"]

EVENT_SCHEMA_VERSION = 1


class EventType(StrEnum):
    """Every event type a pipeline emits."""

    PIPELINE_CREATED = "pipeline.created"
    PIPELINE_STARTED = "pipeline.started"
    STAGE_SCHEDULED = "stage.scheduled"
    STAGE_SUCCEEDED = "stage.succeeded"
    STAGE_FAILED = "stage.failed"
    STAGE_SKIPPED = "stage.skipped"
    STAGE_CACHED = "stage.cached"
    STAGE_CANCELLED = "stage.cancelled"
    STAGE_RETRY_REQUESTED = "stage.retry_requested"
    PIPELINE_WAITING_INPUT = "pipeline.waiting_input"
    PIPELINE_INPUT_RECEIVED = "pipeline.input_received"
    PIPELINE_CANCEL_REQUESTED = "pipeline.cancel_requested"
    PIPELINE_CANCELLED = "pipeline.cancelled"
    PIPELINE_FAILED = "pipeline.failed"
    PIPELINE_RESUMED = "pipeline.resumed"
    PIPELINE_SUCCEEDED = "pipeline.succeeded"
    HOOK_SUCCEEDED = "hook.succeeded"
    HOOK_FAILED = "hook.failed"
    SIGNAL_REJECTED = "signal.rejected"


TERMINAL_EVENT_TYPES = frozenset(
    {EventType.PIPELINE_SUCCEEDED, EventType.PIPELINE_CANCELLED, EventType.PIPELINE_FAILED}
)


class Event(BaseModel):
    """One entry of a pipeline's ordered event log.

    Attributes:
        id: Position in the pipeline's log, from 1, strictly increasing.
        type: One of :class:`EventType` (kept a string so newer servers can add types).
        payload: ``stage_id``, ``step``, ``attempt``, ``error``, ``reason``, ``responder``,
            ``state``
            where they apply.
        timestamp: When it happened (workflow time, UTC).
        trace_id: The pipeline's trace id (OpenTelemetry trace when tracing is on).
        version: Event schema version.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime
    trace_id: str
    version: int = EVENT_SCHEMA_VERSION

    @property
    def is_terminal(self) -> bool:
        """Whether this event ends the pipeline (succeeded, cancelled or failed)."""
        return self.type in TERMINAL_EVENT_TYPES


class MetricPoint(BaseModel):
    """One measurement about a running pipeline or one of its stages.

    Attributes:
        pipeline_id: The pipeline measured.
        stage_id: The stage measured, or ``None`` for pipeline-wide metrics.
        name: ``duration_s``, ``attempts``, ``queue_time_s`` (per stage); ``progress``,
            ``elapsed_s`` (per pipeline).
        value: The measurement.
        timestamp: When it was taken.
        labels: Extra labels (``step``, ``state``).
    """

    model_config = ConfigDict(frozen=True)

    pipeline_id: str
    stage_id: str | None = None
    name: Literal["duration_s", "attempts", "queue_time_s", "progress", "elapsed_s"] | str
    value: float
    timestamp: datetime
    labels: dict[str, str] = Field(default_factory=dict)
