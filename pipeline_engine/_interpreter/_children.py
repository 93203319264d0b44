"""What a run needs to start its sub-pipelines: the versions pinned when it was created, and the
call a runtime gets for each child.

The pipelines a run may start travel in its input (:class:`PinnedPipelines`, the whole closure
of references, resolved once against the tenant's store by whoever created the run), so a run
never reads a store and a version written while it runs changes nothing in it. A child gets the
same table: its own sub-pipelines were resolved with its parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.dsl._references import reference_label
from pipeline_engine.states import StageState
from pipeline_engine.status import ErrorInfo, PipelineStatus
from pipeline_engine.versions import PipelineVersionRef

__all__ = [
    "CHILD_ID_SEPARATOR",
    "ChildFailed",
    "PinnedPipeline",
    "PinnedPipelines",
    "SubPipelineCall",
    "child_config",
    "child_error",
    "child_pipeline_id",
    "finished_stages",
    "next_child_run",
    "not_resolved",
]

CHILD_ID_SEPARATOR = "."
"""Between a parent pipeline's id and the stage id in its child's id (``pl-….sizing``)."""
RERUN_SEPARATOR = "+"
"""Before the run number of a child run again by a retry (``pl-….sizing+2``; never in a stage
id), so the failed run stays readable under its own id."""


def child_pipeline_id(pipeline_id: str, stage_id: str, run: int = 1) -> str:
    """The id of the ``run``-th child pipeline a sub-pipeline stage starts."""
    base = f"{pipeline_id}{CHILD_ID_SEPARATOR}{stage_id}"
    return base if run <= 1 else f"{base}{RERUN_SEPARATOR}{run}"


def next_child_run(previous_id: str | None) -> int:
    """The run number after the child ``previous_id`` (1 when the stage started none)."""
    if previous_id is None:
        return 1
    _, sep, run = previous_id.rpartition(RERUN_SEPARATOR)
    return int(run) + 1 if sep and run.isdigit() else 2


class PinnedPipeline(BaseModel):
    """One stored version a sub-pipeline reference resolved to, with what its run needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: PipelineVersionRef
    config: PipelineConfig
    local_steps: list[str] = Field(default_factory=list)
    """Its steps registered as local (``@step(local=True)``) when it was resolved."""

    @field_serializer("config")
    def _only_what_was_set(self, config: PipelineConfig) -> dict[str, Any]:
        return config.model_dump(mode="json", by_alias=True, exclude_unset=True)


class PinnedPipelines(BaseModel):
    """Every pipeline reachable from a run's sub-pipelines, pinned.

    Attributes:
        labels: A reference as written (``name`` or ``name@N``) -> the ``name@version`` it runs.
        pipelines: ``name@version`` -> that version.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[str, str] = Field(default_factory=dict)
    pipelines: dict[str, PinnedPipeline] = Field(default_factory=dict)

    def find(self, name: str, version: int | None) -> PinnedPipeline | None:
        """The version a reference runs (``None``: it was not resolved)."""
        key = self.labels.get(reference_label(name, version))
        return self.pipelines.get(key) if key is not None else None


@dataclass(frozen=True)
class SubPipelineCall:
    """A child pipeline to run and wait for (handed to the runtime)."""

    pipeline_id: str
    """The parent."""
    stage_id: str
    child_id: str
    name: str
    version: int | None
    input: Any
    reuse: dict[str, Any] | None = None
    """Stage results of the child's failed run, not run again by this one (a retry's)."""


class ChildFailed(StepFailed):
    """The child failed: its error, and what its stages had finished (``finished``), which the
    next run of the child reuses when the stage is retried."""

    def __init__(self, error: ErrorInfo, finished: dict[str, Any]) -> None:
        super().__init__(error, 1)
        self.finished = finished


_REUSED = ("step", "input", "map", "switch", "pipeline")


def finished_stages(status: PipelineStatus) -> dict[str, Any]:
    """The results of a failed child's stages that succeeded (those its status carries): a
    stage of its plan (a map that failed runs all its items again), never a handler's."""
    return {
        s.stage_id: s.result
        for s in status.stages
        if s.state is StageState.SUCCEEDED and not s.result_omitted and s.kind in _REUSED
    }


def child_error(call: SubPipelineCall, cancelled: bool, error: ErrorInfo | None) -> ErrorInfo:
    """The stage's error when its child failed (``error``: the child's) or was cancelled on its
    own (not by its parent): the same words in every engine."""
    who = f"sub-pipeline {reference_label(call.name, call.version)!r} ({call.child_id})"
    if cancelled:
        return ErrorInfo(type="SubPipelineCancelled", message=f"{who} was cancelled")
    if error is None:
        return ErrorInfo(type="SubPipelineFailed", message=f"{who} failed")
    where = f" at stage {error.stage_id}" if error.stage_id else ""
    return ErrorInfo(
        type="SubPipelineFailed", message=f"{who} failed{where}: {error.type}: {error.message}"
    )


def not_resolved(call: SubPipelineCall) -> ErrorInfo:
    """The stage's error when the run's input holds no version for the reference."""
    return ErrorInfo(
        type="SubPipelineNotResolved",
        message=f"sub-pipeline {reference_label(call.name, call.version)!r} was not resolved when "
        "the pipeline was created: create it through the API (POST /v1/process or "
        "/v1/pipelines with a tenant_id), which pins its references to the tenant's pipelines",
    )


def child_config(pinned: PinnedPipeline) -> PipelineConfig:
    """The config a child runs: its own, holding nothing when it fails (its parent's stage fails
    at once and the parent's policy decides: ``on_failure``, ``continue``, the parent's hold)."""
    return pinned.config.model_copy(update={"failure_hold_s": 0.0})
