"""The whole picture of a pipeline: its state, each stage, its result or error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.versions import PipelineVersionRef

__all__ = [
    "MAX_STAGE_PAGE",
    "PAGE_BYTES",
    "ErrorInfo",
    "PendingInput",
    "PipelineStatus",
    "StagePage",
    "StageStatus",
    "page_stages",
]

MAX_STAGE_PAGE = 1000
"""The most stages one status answer carries; page with ``stage_offset`` for more."""
PAGE_BYTES = 1024 * 1024
"""A page of stages ends early once its JSON passes this size (Temporal answers <= 2 MiB)."""


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
        result: The stage's result, once it succeeded (``None`` when ``result_omitted``).
        result_omitted: The result was too large to carry in status answers without a payload
            store (the next stage still received it).
        scheduled_at: When the stage was last scheduled.
        finished_at: When the stage last finished.
        actor: Who acted on it last: the responder of its input, or who asked its last retry
            (the caller's token subject through REST, ``temporal-cli`` through Temporal).
        branch: A ``switch``: the case that ran (its index), ``"default"``, or ``None`` when
            none did.
        computed_kwargs: A step whose ``kwargs`` hold ``{"$expr": …}``: the kwargs it received.
        cached: The result was reused from the step cache (no attempt ran).
        child_pipeline_id: A sub-pipeline: the child pipeline's id (read it like any pipeline).
    """

    stage_id: str
    step: str
    kind: str = "step"
    state: StageState = StageState.PENDING
    attempts: int = 0
    error: ErrorInfo | None = None
    result: Any = None
    result_omitted: bool = False
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    actor: str | None = None
    branch: int | str | None = None
    computed_kwargs: dict[str, Any] | None = None
    cached: bool = False
    child_pipeline_id: str | None = None


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
        stages: A page of the stages, in document order (all of them when there are at most
            :data:`MAX_STAGE_PAGE`); see ``stages_total`` and ``stages_offset``.
        stage_counts: How many stages are in each state (all stages, not only the page).
        stages_total: How many stages match the page's filter (the page is a slice of them).
        stages_offset: Index of the page's first stage among those that match.
        waiting_inputs: Input elements currently waiting.
        result: The pipeline's result once it succeeded.
        result_omitted: Only in answers of the ``status`` query: the result was too large to
            carry there (the engine reads it from the ended workflow instead).
        error: Why it failed: the failed stage and its error, set as soon as it is held in FAILED
            (retryable until ``retryable_until``) and kept once it failed for good.
        created_at, started_at, finished_at: Timestamps.
        retryable_until: While FAILED, the time after which it fails for good.
        trace_id: Trace id shared by all its events.
        cancelled_by: Who asked for the cancellation, once one was asked for.
        note: Set when the picture is partial: e.g. no worker answered, so the state and the
            running stages are what Temporal recorded (the rest shows once a worker is back).
        pipeline_ref: Where it came from: the stored pipeline's name, version and digest
            (``None`` for a pipeline created from a raw config, or before runs recorded it).
    """

    pipeline_id: str
    name: str
    tenant_id: str | None = None
    state: PipelineState
    stages: list[StageStatus] = Field(default_factory=list)
    stage_counts: dict[str, int] = Field(default_factory=dict)
    stages_total: int | None = None
    stages_offset: int = 0
    waiting_inputs: list[PendingInput] = Field(default_factory=list)
    result: Any = None
    result_omitted: bool = False
    error: ErrorInfo | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retryable_until: datetime | None = None
    trace_id: str | None = None
    cancelled_by: str | None = None
    note: str | None = None
    pipeline_ref: PipelineVersionRef | None = None

    @property
    def complete(self) -> bool:
        """Whether ``stages`` holds every stage (no paging, no filter)."""
        return not self.stage_counts or len(self.stages) == sum(self.stage_counts.values())

    def paged(self, page: StagePage | None) -> PipelineStatus:
        """This (complete) status cut down to ``page`` (itself without ``page``)."""
        if page is None:
            return self
        stages, counts, total = page_stages(self.stages, page)
        return self.model_copy(
            update={
                "stages": stages,
                "stage_counts": counts,
                "stages_total": total,
                "stages_offset": page.offset,
            }
        )

    def stage(self, stage_id: str) -> StageStatus:
        """The stage with this id in this page (``KeyError`` if there is none)."""
        for s in self.stages:
            if s.stage_id == stage_id:
                return s
        raise KeyError(stage_id)


class StagePage(BaseModel):
    """Which stages a status answer carries.

    Attributes:
        offset: Skip this many matching stages.
        limit: At most this many stages (capped at :data:`MAX_STAGE_PAGE`).
        state: Only stages in this state.
    """

    offset: int = Field(0, ge=0)
    limit: int = Field(MAX_STAGE_PAGE, ge=0, le=MAX_STAGE_PAGE)
    state: StageState | None = None


def page_stages(
    stages: Iterable[StageStatus], page: StagePage | None
) -> tuple[list[StageStatus], dict[str, int], int]:
    """(the page of ``stages`` (all without ``page``), counts by state over all of them, how many
    match the filter)."""
    if page is None:
        everything = list(stages)
        return everything, dict(Counter(s.state.value for s in everything)), len(everything)
    counts: Counter[str] = Counter()
    out: list[StageStatus] = []
    matching = 0
    size = 0
    full = False
    for s in stages:
        counts[s.state.value] += 1
        if page.state is not None and s.state is not page.state:
            continue
        if not full and page.offset <= matching < page.offset + page.limit:
            size += len(s.model_dump_json())
            full = size > PAGE_BYTES and bool(out)
            if not full:
                out.append(s)
        matching += 1
    return out, dict(counts), matching
