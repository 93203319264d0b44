"""One input object per workflow, update, query and activity, so fields can be added safely."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
)

from activities.messages import StepActivityInput, StepActivityResult, StepErrorDetails
from pipeline_engine._interpreter import RunSnapshot, ShardCall
from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine.dsl import Defaults, PipelineConfig
from pipeline_engine.versions import PipelineVersionRef

__all__ = [
    "CancelRequest",
    "HistoryQuery",
    "PipelineWorkflowInput",
    "RetryFailedRequest",
    "RetryStageRequest",
    "ShardWorkflowInput",
    "StartRequest",
    "StepActivityInput",  # the activities' own messages, defined below both in activities/
    "StepActivityResult",
    "StepErrorDetails",
    "SubmitInputRequest",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunLimits(_Message):
    """Bounds that keep one workflow far from Temporal's limits (set by the engine, per run)."""

    max_in_flight: int = Field(
        200,
        ge=1,
        le=1900,
        description="Steps running (and fan-out members started) at once in one workflow "
        "(Temporal allows 2,000 pending activities).",
    )
    max_result_bytes: int | None = Field(
        2 * 1024 * 1024 - 64 * 1024,
        ge=1024,
        description="Largest pipeline result (JSON bytes) when payloads travel inline; over it the "
        "pipeline fails with ResultTooLarge (Temporal's payload limit is 2 MiB). None with a "
        "payload store (large payloads then travel by reference).",
    )
    inline_result_bytes: int | None = Field(
        64 * 1024,
        ge=0,
        description="Stage results larger than this are left out of status answers "
        "(result_omitted) when payloads travel inline; None with a payload store.",
    )
    max_history_events: int = Field(
        40_000,
        ge=10,
        le=51_200,
        description="Past this many history events no stage starts and the pipeline fails "
        "with HistoryTooLarge (Temporal terminates workflows at 51,200).",
    )
    max_history_bytes: int = Field(
        40 * 1024 * 1024,
        ge=1024,
        le=50 * 1024 * 1024,
        description="The same bound on the history's size (Temporal's limit: 50 MiB).",
    )
    max_status_bytes: int = Field(
        1536 * 1024,
        ge=1024,
        description="Largest status left as the workflow's result; over it the stages are left "
        "out and read page by page from the status query.",
    )
    shard_width: int | None = Field(
        None,
        ge=2,
        le=1900,
        description="Fan-outs (groups, maps) wider than this run in child workflows of at most "
        "this many members each (shards of shards past width squared). None: never (runs "
        "recorded before shards existed).",
    )
    shards_in_flight: int = Field(4, ge=1, le=100, description="Shards of one fan-out at once.")
    continue_as_new_events: int | None = Field(
        None,
        ge=10,
        le=51_200,
        description="Past this many history events (or when Temporal suggests it), the run "
        "stops starting steps, lets the running ones finish and continues as new with its whole "
        "state. None: never (runs recorded before continue-as-new existed).",
    )
    features: int = Field(
        0,
        ge=0,
        le=1,
        description="The interpreter's feature level (workflows/features.py): the patches it "
        "takes without a marker, and PipelineState written once per activation. 0: runs "
        "recorded before levels existed.",
    )
    progress_every_s: float = Field(
        2.0, gt=0, le=3600, description="How often a shard reports its stages to the pipeline."
    )


NO_STORE_LIMITS = RunLimits(shard_width=1000, continue_as_new_events=8000, features=1)
"""Payloads inline in the history: results are bounded by Temporal's payload limit."""
STORE_LIMITS = NO_STORE_LIMITS.model_copy(
    update={"max_result_bytes": None, "inline_result_bytes": None}
)
"""Large payloads travel by reference (a payload store): only the history's own limits apply."""


class PipelineWorkflowInput(_Message):
    """Everything a pipeline run needs; the tree travels here, never looked up from a store."""

    config: PipelineConfig
    tenant_id: str | None = None
    input: Any = None
    settings: dict[str, Any] = Field(default_factory=dict)
    trace_id: str
    autostart: bool = False
    local_steps: list[str] = Field(default_factory=list)
    """Steps of ``config`` registered as local (``@step(local=True)``) when it was created."""
    limits: RunLimits | None = None
    resume: RunSnapshot | None = None
    """Set when a run continues as new: the state to go on from (``autostart`` is then unset)."""
    pipeline_ref: PipelineVersionRef | None = None
    """The stored pipeline version it runs (``None``: a raw config, or a run recorded before
    runs knew their origin); carried into every continued run with the rest of the input."""
    pinned: PinnedPipelines | None = None
    """The versions its sub-pipelines (and theirs) run, pinned when it was created."""
    reuse: dict[str, Any] | None = None
    """A sub-pipeline's child run again by a retry: the results of the stages its failed run
    had finished, not run again."""
    input_as_previous: bool = False
    """A sub-pipeline's child: its first stage receives its input as ``previous``."""

    @field_serializer("config")
    def _only_what_was_set(self, config: PipelineConfig) -> dict[str, Any]:
        # Unset fields re-validate to the same defaults, so the history need not carry them.
        return config.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @model_serializer(mode="wrap")
    def _no_new_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_defaults(handler(self), _NEWER_PIPELINE_FIELDS)


#: Fields added to a pipeline's input after workers were deployed, with their defaults: left out
#: of the payload while at the default, so a run that uses none of them has the input an older
#: worker (whose models forbid unknown fields) still reads during a rolling deploy.
_NEWER_PIPELINE_FIELDS: dict[str, Any] = {
    "pipeline_ref": None,
    "pinned": None,
    "reuse": None,
    "input_as_previous": False,
}


def _without_defaults(data: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    for name, default in newer.items():
        if name in data and data[name] == default:
            del data[name]
    return data


class CommandRequest(_Message):
    """Arguments of a command, sent as an update or as a signal of the same name."""

    actor: str | None = Field(None, min_length=1, max_length=200)
    """Who sends it: set by the REST front door from the caller's token (``sub``)."""


class StartRequest(CommandRequest):
    """Arguments of the ``start`` update (none yet)."""


class SubmitInputRequest(CommandRequest):
    """Arguments of the ``submit_input`` update."""

    payload: Any = None
    responder: str | None = Field(None, min_length=1, max_length=200)
    """A display name; the responder recorded is the actor when there is one."""
    stage_id: str | None = None


class RetryStageRequest(CommandRequest):
    """Arguments of the ``retry_stage`` update."""

    stage_id: str = Field(min_length=1)
    reason: str = ""


class RetryFailedRequest(CommandRequest):
    """Arguments of the ``retry_failed`` update (every stage held in FAILED)."""

    reason: str = ""


class CancelRequest(CommandRequest):
    """Arguments of the ``cancel`` update."""

    reason: str = ""


class HistoryQuery(_Message):
    """Arguments of the ``history`` query."""

    since: datetime | None = None
    after_id: int | None = None
    limit: int | None = Field(None, ge=1, description="At most this many events.")


class ShardWorkflowInput(_Message):
    """A slice of a pipeline's fan-out (``PipelineShard``): what its steps need, and the slice."""

    pipeline_id: str
    name: str
    tenant_id: str | None = None
    trace_id: str
    input: Any = None
    settings: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    failure_hold_s: float
    limits: RunLimits
    call: ShardCall
    pinned: PinnedPipelines | None = None
    """The pipeline's pinned sub-pipelines (a map's runs may start some)."""

    @model_serializer(mode="wrap")
    def _no_new_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_defaults(handler(self), {"pinned": None})

    @classmethod
    def for_pipeline(
        cls, params: PipelineWorkflowInput, pipeline_id: str, limits: RunLimits
    ) -> Callable[[ShardCall], ShardWorkflowInput]:
        """What the shards of this pipeline's fan-outs get, given their slice."""

        def make(call: ShardCall) -> ShardWorkflowInput:
            return cls(
                pipeline_id=pipeline_id,
                name=params.config.name,
                tenant_id=params.tenant_id,
                trace_id=params.trace_id,
                input=params.input,
                settings=params.settings,
                defaults=params.config.defaults,
                failure_hold_s=params.config.failure_hold_s,
                limits=limits,
                call=call,
                pinned=params.pinned,
            )

        return make
