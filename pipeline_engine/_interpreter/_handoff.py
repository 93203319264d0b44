"""What one run of the interpreter hands another: a slice of a fan-out (a shard), the shard's
progress and outcome, and the whole state of a run continued in a new one.

Pure data: the Temporal workflows send these as workflow inputs, results and signals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline_engine.events import Event
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import ErrorInfo, PipelineStatus, StageStatus

__all__ = [
    "BlockState",
    "EventSpan",
    "HeldStage",
    "HistoryParts",
    "HistoryPartsQuery",
    "PartsQuery",
    "RunSnapshot",
    "ShardCall",
    "ShardFailure",
    "ShardProgress",
    "ShardResult",
    "StageSlice",
    "StatusParts",
]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventSpan(_Data):
    """Events a thin parent numbers but does not keep: ``count`` of them from ``first_id`` on in
    the pipeline's log are events ``source_first`` on of ``source``'s."""

    first_id: int = 0
    count: int = Field(ge=0)
    source: str
    source_first: int = Field(ge=1)
    first_at: datetime
    last_at: datetime


class ShardCall(_Data):
    """A slice of a fan-out run by another workflow: group members, or runs of a map's element.

    Members travel as compiled plan nodes (``pipeline_engine.dsl.node_to_wire``), stage ids
    resolved, so the shard's stages are the pipeline's own.
    """

    members: list[dict[str, Any]] | None = None
    """Group members (each receives ``previous``)."""
    previous: Any = None
    template: dict[str, Any] | None = None
    """A map's element: run ``offset + i`` gets ``items[i]``, its stage ids end in
    ``[offset + i]``."""
    items: list[Any] | None = None
    offset: int = Field(0, ge=0)
    batched: bool = False
    """A batched map's runs: each item is a batch, each run's result a list as long."""
    cap: int | None = Field(None, ge=1, description="At most this many members at once.")
    absorb: bool = False
    """``on_error: continue``: a failed member's result is a failure marker."""
    fail_fast: bool = False
    """A failed member cancels the others and ends the shard (nothing may hold the pipeline)."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Results of stages and members that already ran (they are not run again)."""
    block: str | None = None
    """Set for a thin parent (:mod:`~pipeline_engine._interpreter._blocks`): the shard reports
    counts, its live stages and spans of its events under this key, not its whole records."""


class ShardFailure(_Data):
    """A member of a shard that failed for good."""

    member: str
    """The member's key (``-`` when the shard failed fast)."""
    stage_id: str
    error: ErrorInfo
    fatal: bool = False
    """A limit was reached: nothing can resume it (no hold, no retry)."""


class ShardResult(_Data):
    """How a shard ended: every member's result in order (``None`` where one failed)."""

    results: list[Any]
    failures: list[ShardFailure] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    """With failures: what the shard's stages produced, so a failed member resumes where it
    stopped."""
    stages: list[StageStatus] = Field(default_factory=list)
    """Thin parent: the records of the failed members' stages (the pipeline adopts them)."""


class ShardProgress(_Data):
    """Stages and events of a shard since its last report, merged into the pipeline's own."""

    events: list[Event] = Field(default_factory=list)
    stages: list[StageStatus] = Field(default_factory=list)
    """Thin: the shard's live stages (running, failed, waiting) as they are now, all of them."""
    block: str | None = None
    """Thin (the call's ``block``): the report is counts, live stages and a span of events."""
    source: str = ""
    """Thin: the workflow whose reads hold the shard's stages and events."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Thin: the shard's stages by state, all of them."""
    span: EventSpan | None = None
    """Thin: the shard's events since its last report, kept by the shard."""


class BlockState(_Data):
    """What a thin parent keeps of one shard: see :mod:`~pipeline_engine._interpreter._blocks`."""

    key: str
    source: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    live: list[StageStatus] = Field(default_factory=list)
    adopted: list[str] = Field(default_factory=list)


class PartsQuery(_Data):
    """A page of a run's stages, less ``exclude`` (stages its parent adopted)."""

    offset: int = Field(0, ge=0)
    limit: int = Field(1000, ge=0)
    state: StageState | None = None
    exclude: list[str] = Field(default_factory=list)


class HistoryPartsQuery(_Data):
    """A page of a run's events: ``since`` a time, ``after_id``, at most ``limit``."""

    since: datetime | None = None
    after_id: int | None = None
    limit: int | None = None


class StageSlice(_Data):
    """Stages a thin parent's status leaves to a shard: insert at ``index`` of its stages the
    page ``query`` of ``source``'s."""

    index: int
    source: str
    query: PartsQuery


class StatusParts(_Data):
    """A status whose page still has slices to read from shards."""

    status: PipelineStatus
    slices: list[StageSlice] = Field(default_factory=list)


class HistoryParts(_Data):
    """Events of a history page, and the spans of it kept by shards."""

    events: list[Event] = Field(default_factory=list)
    spans: list[EventSpan] = Field(default_factory=list)


class HeldStage(_Data):
    """A stage held in FAILED, waiting for ``retry_stage`` until ``deadline``."""

    error: ErrorInfo
    deadline: datetime | None = None


class RunSnapshot(_Data):
    """Everything a pipeline run knows, to go on in a new run (continue-as-new) as if it had not
    stopped: what already ran is not run again, the log and the stages stay whole."""

    events: list[Event]
    stages: list[StageStatus]
    values: dict[str, Any]
    state: PipelineState
    created_at: datetime
    started_at: datetime | None = None
    held: dict[str, HeldStage] = Field(default_factory=dict)
    waiting: dict[str, datetime | None] = Field(default_factory=dict)
    """Input stages waiting, with their deadlines."""
    retried: list[str] = Field(default_factory=list)
    inputs_done: dict[str, str] = Field(default_factory=dict)
    runs: int = Field(1, ge=1, description="Workflow runs so far, this one included.")
    spans: list[EventSpan] = Field(default_factory=list)
    """Thin parent: events numbered in the log, kept by shards."""
    blocks: list[BlockState] = Field(default_factory=list)
    """Thin parent: its shards' counts and live stages."""
