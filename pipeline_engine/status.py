"""The whole picture of a pipeline: its state, each stage, its result or error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pipeline_engine.states import PipelineState, StageState

__all__ = ["ErrorInfo", "PendingInput", "PipelineStatus", "StageStatus"]


class ErrorInfo(BaseModel):
    """Why something failed.

    Attributes:
        type: The exception's class name (or ``Timeout``, ``Cancelled``...).
        message: The exception's message.
        stage_id: The stage that failed, when a stage did.
    """

    type: str
    message: str
    stage_id: str | None = None


class StageStatus(BaseModel):
    """One stage of a pipeline.

    Attributes:
        stage_id: Unique id within the pipeline.
        step: Registered step name (``input`` for an input element).
        kind: ``step``, ``input``, or ``handler`` (an ``on_failure`` handler run).
        state: Where the stage is.
        attempts: Attempts made so far, across retries and ``retry_stage`` re-runs.
        error: Last error, if the stage failed.
        result: The stage's result, once it succeeded.
        scheduled_at: When the stage was last scheduled.
        finished_at: When the stage last finished.
        actor: Who acted on it last: the responder of its input, or who asked its last retry
            (the caller's token subject through REST, ``temporal-cli`` through Temporal).
    """

    stage_id: str
    step: str
    kind: str = "step"
    state: StageState = StageState.PENDING
    attempts: int = 0
    error: ErrorInfo | None = None
    result: Any = None
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    actor: str | None = None


class PendingInput(BaseModel):
    """An input element waiting for a human.

    Attributes:
        stage_id: The input element's id (pass it to ``submit_input`` when several wait).
        prompt: What to ask.
        schema_: The JSON Schema the payload must satisfy.
        deadline: When the wait times out, if it does.
    """

    stage_id: str
    prompt: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    deadline: datetime | None = None

    model_config = {"populate_by_name": True}


class PipelineStatus(BaseModel):
    """Everything known about one pipeline.

    Attributes:
        pipeline_id: The pipeline (= Temporal workflow id).
        name: The config's name.
        tenant_id: The owning tenant.
        state: Pipeline state.
        stages: Every stage, in document order.
        waiting_inputs: Input elements currently waiting.
        result: The pipeline's result once it succeeded.
        error: Why it failed: the failed stage and its error, set as soon as it is held in FAILED
            (retryable until ``retryable_until``) and kept once it failed for good.
        created_at, started_at, finished_at: Timestamps.
        retryable_until: While FAILED, the time after which it fails for good.
        trace_id: Trace id shared by all its events.
        cancelled_by: Who asked for the cancellation, once one was asked for.
        note: Set when the picture is partial: e.g. no worker answered, so the state and the
            running stages are what Temporal recorded (the rest shows once a worker is back).
    """

    pipeline_id: str
    name: str
    tenant_id: str | None = None
    state: PipelineState
    stages: list[StageStatus] = Field(default_factory=list)
    waiting_inputs: list[PendingInput] = Field(default_factory=list)
    result: Any = None
    error: ErrorInfo | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retryable_until: datetime | None = None
    trace_id: str | None = None
    cancelled_by: str | None = None
    note: str | None = None

    def stage(self, stage_id: str) -> StageStatus:
        """The stage with this id (``KeyError`` if there is none)."""
        for s in self.stages:
            if s.stage_id == stage_id:
                return s
        raise KeyError(stage_id)
