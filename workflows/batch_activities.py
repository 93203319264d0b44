"""The activities of ``BatchWorkflow``: start a range of its pipelines, count them, cancel them.

Each goes through the pipeline engine (its idempotent create, its visibility counts, its cancel),
so a retried activity repeats nothing: a pipeline already created is found by its id, derived from
the batch id and its input's index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from pipeline_engine._ids import batch_member_key
from pipeline_engine.batches import ACTIVE_STATES
from pipeline_engine.errors import EngineUnavailable, InvalidState, PipelineError
from pipeline_engine.pages import PipelineWhere
from pipeline_engine.service import BatchMember, PreparedConfig, TaskPriority
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from workflows import names
from workflows.batch_inputs import read_inputs
from workflows.batch_messages import (
    BatchCounts,
    BatchCountsRequest,
    BatchStartRequest,
    CancelBatchPipelines,
)
from workflows.engine import TemporalPipelineEngine
from workflows.payload_store import PayloadStore

__all__ = ["BatchActivities", "build_batch_activities"]

_log = logging.getLogger("pipeline_engine.batches")
_AT_ONCE = 16
"""Pipelines created (or cancelled) concurrently by one activity."""


async def _bounded(items: list[Any], op: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``op`` on every item, :data:`_AT_ONCE` at a time, heartbeating how many are done."""
    gate = asyncio.Semaphore(_AT_ONCE)
    done = 0

    async def one(item: Any) -> None:
        nonlocal done
        async with gate:
            await op(item)
        done += 1
        activity.heartbeat(done)

    await asyncio.gather(*(one(item) for item in items))


def _failure(exc: PipelineError) -> BaseException:
    """An unreachable engine is retried; any other refusal would be refused again: it ends."""
    if isinstance(exc, EngineUnavailable):
        return exc
    return ApplicationError(exc.message, *exc.details, type=exc.code, non_retryable=True)


class BatchActivities:
    """The batch activities over ``engine`` (whose task queue the pipelines run on)."""

    def __init__(
        self,
        engine: TemporalPipelineEngine,
        registry: StepRegistry | None,
        store: PayloadStore | None,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._store = store

    async def _inputs(self, request: BatchStartRequest) -> list[Any]:
        if request.inputs is not None:
            return request.inputs
        if self._store is None:
            raise ApplicationError(
                "the batch's inputs are in a payload store this worker has not got",
                type="PayloadStoreMissing",
            )
        return await read_inputs(
            self._store,
            namespace=self._engine.client.namespace,
            batch_id=request.batch_id,
            start=request.start,
            count=request.count,
        )

    @activity.defn(name=names.ACTIVITY_BATCH_START)
    async def start_pipelines(self, request: BatchStartRequest) -> int:
        """Create (idempotently) and start the batch's pipelines of this range."""
        inputs = await self._inputs(request)
        prepared = PreparedConfig.of(request.config, registry=self._registry)
        prepared = replace(prepared, pinned=request.pinned, ref=request.pipeline_ref)
        priority = TaskPriority(key=request.priority_key, fairness_weight=request.fairness_weight)

        async def create(pair: tuple[int, Any]) -> None:
            index, value = pair
            await self._engine.create_pipeline(
                prepared,
                input=value,
                tenant_id=request.tenant_id,
                idempotency_key=batch_member_key(request.batch_id, index),
                settings=request.settings or None,
                start=True,
                priority=priority,
                batch=BatchMember(request.batch_id, index),
            )

        try:
            await _bounded(list(enumerate(inputs, start=request.start)), create)
        except PipelineError as exc:
            raise _failure(exc) from None
        return len(inputs)

    @activity.defn(name=names.ACTIVITY_BATCH_COUNT)
    async def count_pipelines(self, request: BatchCountsRequest) -> BatchCounts:
        """The batch's pipelines by state (Temporal visibility)."""
        where = PipelineWhere(batch_id=request.batch_id)
        return BatchCounts(counts=await self._engine.count_pipelines(where=where))

    @activity.defn(name=names.ACTIVITY_BATCH_CANCEL)
    async def cancel_pipelines(self, request: CancelBatchPipelines) -> int:
        """Cancel every pipeline of the batch that has not ended; how many it cancelled."""
        cancelled = 0

        async def cancel(pipeline_id: str) -> None:
            nonlocal cancelled
            try:
                await self._engine.cancel_pipeline(pipeline_id, request.reason, actor=request.actor)
                cancelled += 1
            except InvalidState:  # it ended meanwhile
                pass

        for state in ACTIVE_STATES:
            await _bounded(await self._listed(request.batch_id, state), cancel)
        _log.info("batch %s: cancelled %d pipelines", request.batch_id, cancelled)
        return cancelled

    async def _listed(self, batch_id: str, state: PipelineState) -> list[str]:
        where = PipelineWhere(batch_id=batch_id)
        found: list[str] = []
        token: str | None = None
        while True:
            page = await self._engine.list_pipelines(
                state=state, where=where, page_size=200, next_page_token=token
            )
            found.extend(item.pipeline_id for item in page.items)
            token = page.next_page_token
            if token is None:
                return found

    def activities(self) -> list[Callable[..., Any]]:
        """The activities to register on a worker."""
        return [self.start_pipelines, self.count_pipelines, self.cancel_pipelines]


def build_batch_activities(
    engine: TemporalPipelineEngine, registry: StepRegistry | None, store: PayloadStore | None
) -> list[Callable[..., Any]]:
    """The batch activities over ``engine`` (whose task queue the pipelines run on)."""
    return BatchActivities(engine, registry, store).activities()
