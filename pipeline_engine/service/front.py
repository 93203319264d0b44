"""The front both engines share: the operations whose arguments every engine checks the same way.

:class:`EngineFront` writes once what the Temporal engine and the local engine did each their own
way: the create identity (:func:`~pipeline_engine.service.identity.identify_create`), the refusal
of non-finite numbers in an input payload, the empty listing for an empty tenant list, and the
signatures of these operations. Each engine supplies the part that is its own (``_create``,
``_submit_input``, ``_history``, ``_list``), given one small request object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline_engine._finite import refuse_non_finite
from pipeline_engine._ids import DEV_IDS, IdRule
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.events import Event
from pipeline_engine.observability.tracing import span
from pipeline_engine.pages import PipelinePage, PipelineWhere
from pipeline_engine.service.engine import BatchMember, CreatedPipeline, TaskPriority
from pipeline_engine.service.identity import CreateIdentity, identify_create
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry

__all__ = ["CreateRequest", "EngineFront", "HistoryWindow", "InputAnswer", "ListQuery"]


@dataclass(frozen=True)
class CreateRequest:
    """A create, checked: who it is (its identity) and how to create it."""

    identity: CreateIdentity
    tenant_id: str | None
    input: Any
    settings: dict[str, Any] | None
    start: bool
    priority: TaskPriority | None
    batch: BatchMember | None


@dataclass(frozen=True)
class InputAnswer:
    """A payload for a waiting input element (checked finite)."""

    payload: Any
    responder: str | None
    stage_id: str | None
    actor: str | None


@dataclass(frozen=True)
class HistoryWindow:
    """Which events of a pipeline to read."""

    since: datetime | None
    after_id: int | None
    limit: int | None


@dataclass(frozen=True)
class ListQuery:
    """Which pipelines to list (``tenant_ids`` is ``None`` for all, never empty)."""

    tenant_ids: list[str] | None
    state: PipelineState | None
    page_size: int
    next_page_token: str | None
    where: PipelineWhere


class EngineFront(ABC):
    """The operations every engine fronts the same way (see the module's docstring)."""

    _registry: StepRegistry | None
    _ids: IdRule = DEV_IDS  # the engine's id rule (the Temporal engine's: from its settings)

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
        batch: BatchMember | None = None,
    ) -> CreatedPipeline:
        """Create a pipeline in PENDING (RUNNING with ``start``); the same request, the same id.

        ``priority`` (the tenant's) orders its tasks when they back up (on Temporal: the tenant
        is the fairness key; in-process it has no effect); ``batch`` marks it as one of a
        batch's pipelines. Neither is part of the request's identity.
        """
        with span("CreatePipeline"):
            identity = identify_create(
                config,
                registry=self._registry,
                tenant_id=tenant_id,
                input=input,
                settings=settings,
                idempotency_key=idempotency_key,
                ids=self._ids,
            )
            request = CreateRequest(identity, tenant_id, input, settings, start, priority, batch)
            return await self._create(request)

    async def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str | None,
        *,
        stage_id: str | None = None,
        actor: str | None = None,
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema)."""
        refuse_non_finite(payload=payload)
        return await self._submit_input(
            pipeline_id, InputAnswer(payload, responder, stage_id, actor)
        )

    async def get_history(
        self,
        pipeline_id: str,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order (``since``: at or after a time; ``after_id``: after
        an event id; ``limit``: at most this many)."""
        return await self._history(pipeline_id, HistoryWindow(since, after_id, limit))

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
        if tenant_ids is not None and not tenant_ids:
            return PipelinePage(items=[], next_page_token=None)
        filters = where or PipelineWhere()
        return await self._list(ListQuery(tenant_ids, state, page_size, next_page_token, filters))

    @abstractmethod
    async def _create(self, request: CreateRequest) -> CreatedPipeline:
        """Create the pipeline ``request`` names, or answer the one the same request made."""

    @abstractmethod
    async def _submit_input(self, pipeline_id: str, answer: InputAnswer) -> PipelineState:
        """Hand ``answer`` to the pipeline's waiting input element."""

    @abstractmethod
    async def _history(self, pipeline_id: str, window: HistoryWindow) -> list[Event]:
        """The pipeline's events in ``window``."""

    @abstractmethod
    async def _list(self, query: ListQuery) -> PipelinePage:
        """A page of the pipelines ``query`` names."""
