"""``PipelineEngine``: the contract of the pipeline operations, whatever runs the pipelines.

Two engines implement it: ``workflows.engine.TemporalPipelineEngine`` (pipelines are Temporal
workflows) and :class:`pipeline_engine.service.local.LocalPipelineEngine` (pipelines run in this
process on the same interpreter). The REST API depends on this protocol only; each engine
translates its own infrastructure errors into :mod:`pipeline_engine.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.events import Event
from pipeline_engine.pages import PipelinePage, PipelineWhere
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage

__all__ = ["BatchMember", "CreatedPipeline", "PipelineChange", "PipelineEngine", "TaskPriority"]


@dataclass(frozen=True)
class CreatedPipeline:
    """The answer to ``create_pipeline``.

    Attributes:
        pipeline_id: The pipeline (derived from tenant, config, input, key: see ``_ids``).
        state: Its state after the call.
        created: ``False`` when the same request had already created it.
    """

    pipeline_id: str
    state: PipelineState
    created: bool


@dataclass(frozen=True)
class BatchMember:
    """A pipeline created as one of a batch's.

    Attributes:
        batch_id: The batch.
        index: The position of its input in the batch (from 0).
    """

    batch_id: str
    index: int


@dataclass(frozen=True)
class TaskPriority:
    """How the engine orders a tenant's work when it backs up (from the tenant's config).

    Attributes:
        key: Priority key, 1 (first) to 5 (last); ``None``: the server's default (3).
        fairness_weight: The tenant's share of dispatch against other tenants (1.0 when
            ``None``): a tenant of weight 2 gets twice the dispatches of a tenant of weight 1.
    """

    key: int | None = None
    fairness_weight: float | None = None


@dataclass(frozen=True)
class PipelineChange:
    """The pipeline may have changed (an engine yields one right away, then one per change).

    Attributes:
        closed: The run is over: no change follows.
        queue_times: Seconds each stage waited for a worker, where the engine knows it.
    """

    closed: bool
    queue_times: Mapping[str, float] = field(default_factory=dict)


class PipelineEngine(Protocol):
    """Pipeline operations (create, start, status, history, cancel, retry, input, list, watch).

    Every method raises :mod:`pipeline_engine.errors` only (``PipelineNotFound``,
    ``InvalidState``, ``EngineUnavailable``…), never an error of the engine's infrastructure.
    """

    async def create_pipeline(
        self,
        config: PreparedConfig | PipelineConfig | dict[str, Any] | str,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        settings: dict[str, Any] | None = None,
        start: bool = False,
        priority: TaskPriority | None = None,
    ) -> CreatedPipeline:
        """Create a pipeline in PENDING (RUNNING with ``start``); the same request, the same id.

        ``config`` may come prepared (a tenant's stored config, compiled once when loaded).
        ``priority`` (the tenant's, from its config) orders its tasks when they back up; it is
        not part of the request's identity.
        """
        ...

    # ``actor`` on a command: who sends it (the caller's token subject), recorded in its event.

    async def start_pipeline(self, pipeline_id: str, *, actor: str | None = None) -> PipelineState:
        """Start a PENDING pipeline; repeated calls return the current state."""
        ...

    async def cancel_pipeline(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Cancel; CANCELLED once stopped (``InvalidState`` if it already ended otherwise)."""
        ...

    async def retry_stage(
        self, pipeline_id: str, stage_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run a stage that failed for good while the pipeline is held in FAILED."""
        ...

    async def retry_failed(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run every stage held in FAILED at once (``InvalidState`` when none is)."""
        ...

    async def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str | None,
        *,
        stage_id: str | None = None,
        actor: str | None = None,
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema).

        The responder recorded is ``actor`` when given; ``responder`` then only adds a name.
        """
        ...

    async def get_pipeline(
        self, pipeline_id: str, *, page: StagePage | None = None
    ) -> PipelineStatus:
        """The whole picture of a pipeline, with a page of its stages (default: the first)."""
        ...

    async def get_status(self, pipeline_id: str) -> PipelineState:
        """The pipeline's state."""
        ...

    async def get_history(
        self,
        pipeline_id: str,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The pipeline's events in order (``since``: at or after; ``after_id``: after;
        ``limit``: at most this many)."""
        ...

    async def get_config(self, pipeline_id: str) -> PipelineConfig:
        """The config the pipeline runs (what the console draws)."""
        ...

    async def get_sub_pipelines(self, pipeline_id: str) -> PinnedPipelines | None:
        """The versions its sub-pipelines run, pinned when it was created (``None``: none)."""
        ...

    async def tenant_of(self, pipeline_id: str) -> str | None:
        """The owning tenant (``PipelineNotFound`` when there is no such pipeline)."""
        ...

    async def is_closed(self, pipeline_id: str) -> bool:
        """Whether the pipeline's run is over."""
        ...

    async def list_pipelines(
        self,
        *,
        tenant_ids: list[str] | None = None,
        state: PipelineState | None = None,
        page_size: int = 50,
        next_page_token: str | None = None,
        where: PipelineWhere | None = None,
    ) -> PipelinePage:
        """Pipelines newest first; ``tenant_ids=None`` means all (``InvalidInput``: bad token)."""
        ...

    async def count_pipelines(
        self, *, tenant_ids: list[str] | None = None, where: PipelineWhere | None = None
    ) -> dict[str, int]:
        """How many pipelines are in each state (``tenant_ids=None`` means all)."""
        ...

    def watch_changes(self, pipeline_id: str) -> AsyncIterator[PipelineChange]:
        """A change at once, then one each time the pipeline may have changed; ends when closed."""
        ...

    async def check_health(self, *, timeout_s: float) -> None:
        """Return when the engine answers; ``EngineUnavailable`` otherwise."""
        ...
