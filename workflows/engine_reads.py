"""Reads of one pipeline: status, history, config, owner, and the changes a stream follows.

A running pipeline is read with a workflow query (answered by a worker, within the query
timeout); an ended one from its workflow's result; without a worker, from what Temporal recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine._interpreter._blocks import page_of, resolve_history, resolve_status
from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine._interpreter._handoff import (
    HistoryParts,
    HistoryPartsQuery,
    StatusParts,
)
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.errors import EngineUnavailable, PipelineError, PipelineNotFound
from pipeline_engine.events import Event
from pipeline_engine.service import PipelineChange
from pipeline_engine.service.front import HistoryWindow
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage
from workflows import names, search_attributes
from workflows.definition import pipeline_config, pipeline_input
from workflows.engine_core import EngineCore
from workflows.event_watch import QueueTimes, history_batches
from workflows.messages import HistoryQuery
from workflows.recorded_status import recorded_ref, recorded_status
from workflows.search_attributes import SearchAttributesMissing
from workflows.status_cache import Read
from workflows.temporal_calls import Overrides

__all__ = ["EngineReads", "final_status"]

T = TypeVar("T")

_WORKERLESS_MEMORY_S = 5.0

_CLOSED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


_NO_HANDLER = "expected but not found"
"""How the SDK answers a query a workflow has no handler for (one from before the query)."""


def _no_such_id(exc: RPCError) -> PipelineError:
    return PipelineNotFound("pipeline not found")  # not a valid workflow id


_BY_ID: Overrides = {RPCStatusCode.INVALID_ARGUMENT: _no_such_id}
"""A read by pipeline id that Temporal refuses as an argument names no pipeline: 404."""


class EngineReads(EngineCore):
    """The engine's reads of one pipeline."""

    async def get_pipeline(
        self, pipeline_id: str, *, page: StagePage | None = None
    ) -> PipelineStatus:
        """The whole picture of a pipeline, with a page of its stages (default: the first).

        One Temporal round trip while it runs: the ``status`` query, which the server rejects at
        once (without a worker) when the workflow has closed. An ended pipeline is then read from
        its workflow's result (or failure), which needs no worker and no replay. Only when that
        result left the stages out (a large pipeline) does the query page them from the closed
        workflow. The status names its tenant, so callers check ownership on the same read (on
        every read: answers are kept by pipeline, never by caller).

        Concurrent reads of the same pipeline and page share one such read. An ended pipeline's
        status is kept for 60 s; with ``status_cache_s`` any other answer is kept that long for
        the next reads of the same page; every command through this engine, and every change
        :meth:`watch_changes` sees, forgets them (:mod:`workflows.status_cache`).

        When no worker answers the query within the query timeout, the answer is what Temporal
        recorded (state, running stages), with ``note`` saying so: a read never waits for a
        worker to come back.
        """
        page = page or StagePage()
        return await self._statuses.read(pipeline_id, page, lambda: self._read(pipeline_id, page))

    async def _read(self, pipeline_id: str, page: StagePage) -> Read:
        handle = self._handle(pipeline_id)
        try:
            status = await self._status_query(
                handle, page, reject=QueryRejectCondition.NOT_OPEN, overrides=_BY_ID
            )
        except WorkflowQueryRejectedError as rejected:
            ended: WorkflowExecutionStatus | None = rejected.status
        else:
            if status is not None:
                return Read(status)
            desc = await self._calls(handle.describe)  # no worker answered: Temporal's records
            ended = desc.status if desc.status in _CLOSED else None
            if ended is None:
                why = self._unanswered()
                return Read(recorded_status(desc, why=why, ref=await recorded_ref(desc)))
        final: PipelineStatus | None = None
        if ended in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
            typed = self._client.get_workflow_handle(pipeline_id, result_type=PipelineStatus)
            final = await self._calls(lambda: final_status(typed))
            if final is not None and final.complete:
                return Read(final, ended=True)
        # cancelled or terminated through Temporal (the last state is the workflow's to tell), or
        # too large for the result to keep its stages
        status = await self._status_query(handle, page)
        if status is None:
            desc = await self._calls(handle.describe)
            why = self._unanswered()
            return Read(recorded_status(desc, why=why, ref=await recorded_ref(desc)))
        if final is not None and status.result_omitted:
            status = status.model_copy(update={"result": final.result, "result_omitted": False})
        return Read(status)

    async def _status_query(
        self,
        handle: WorkflowHandle[Any, Any],
        page: StagePage,
        *,
        reject: QueryRejectCondition | None = None,
        overrides: Overrides | None = None,
    ) -> PipelineStatus | None:
        """The ``status_parts`` query with the slices its shards hold read from them (a
        workflow from before that query answers the ``status`` query)."""
        try:
            parts: StatusParts | None = await self._query(
                lambda: handle.query(
                    names.QUERY_STATUS_PARTS,
                    page_of(page),
                    result_type=StatusParts,
                    reject_condition=reject,
                ),
                overrides=overrides,
            )
        except WorkflowQueryFailedError as exc:
            if _NO_HANDLER not in str(exc):
                raise
            return await self._query(
                lambda: handle.query(
                    names.QUERY_STATUS, page, result_type=PipelineStatus, reject_condition=reject
                ),
                overrides=overrides,
            )
        if parts is None:
            return None
        return await resolve_status(parts, self._from_shard)

    async def _from_shard(self, source: str, kind: str, query: object) -> object:
        """What a thin parent leaves to its shard ``source``: a status page or a history page."""
        handle = self._client.get_workflow_handle(source)
        if kind == "status":
            answer: object = await self._query(
                lambda: handle.query(names.QUERY_STATUS_PARTS, query, result_type=StatusParts)
            )
        else:
            answer = await self._query(
                lambda: handle.query(names.QUERY_HISTORY_PARTS, query, result_type=HistoryParts)
            )
        if answer is None:
            raise EngineUnavailable(
                f"{self._unanswered()} for the shard {source} of this pipeline",
                retry_after_s=self._query_timeout_s,
            )
        return answer

    async def _query(
        self, query: Callable[[], Awaitable[T]], *, overrides: Overrides | None = None
    ) -> T | None:
        """A query's answer, or ``None`` if no worker answered within the query timeout.

        After a query went unanswered, queries are not tried for a few seconds, so repeated
        reads answer at once while no worker runs.
        """
        last = self._unanswered_at
        if last is not None and time.monotonic() - last < _WORKERLESS_MEMORY_S:
            return None
        try:
            answer = await self._calls(
                lambda: asyncio.wait_for(query(), self._query_timeout_s),
                overrides=overrides,
                passing=(WorkflowQueryRejectedError,),
            )
        except TimeoutError:
            self._unanswered_at = time.monotonic()
            return None
        self._unanswered_at = None
        return answer

    def _unanswered(self) -> str:
        return f"no worker answered within {self._query_timeout_s:g} s"

    async def get_status(self, pipeline_id: str) -> PipelineState:
        """The pipeline's state."""
        return (await self.get_pipeline(pipeline_id)).state

    async def _history(self, pipeline_id: str, window: HistoryWindow) -> list[Event]:
        """Raises ``EngineUnavailable`` when no worker answered within the query timeout (the
        events are kept by the workflow; they can be read when a worker is back)."""
        handle = self._handle(pipeline_id)
        try:
            events = await self._history_parts(handle, window)
        except WorkflowQueryFailedError as exc:
            if _NO_HANDLER not in str(exc):
                raise
            events = await self._query(
                lambda: handle.query(
                    names.QUERY_HISTORY,
                    HistoryQuery(since=window.since, after_id=window.after_id, limit=window.limit),
                    result_type=list[Event],
                ),
            )
        if events is None:
            raise EngineUnavailable(
                f"{self._unanswered()}; the pipeline's events can be read when one is back",
                retry_after_s=self._query_timeout_s,
            )
        if events:
            # Whoever read these events reads a status at least as new next (a client following
            # a stream reads the status once it saw the pipeline end).
            self._statuses.forget(pipeline_id)
        return events

    async def _history_parts(
        self, handle: WorkflowHandle[Any, Any], window: HistoryWindow
    ) -> list[Event] | None:
        """The ``history_parts`` query with the spans its shards keep read from them; a span's
        events before ``since`` are dropped here, and the page goes on until ``limit`` holds."""
        events: list[Event] = []
        after, limit = window.after_id, window.limit
        while True:
            query = HistoryPartsQuery(
                since=window.since, after_id=after, limit=None if limit is None else limit
            )
            parts: HistoryParts | None = await self._query(
                lambda q=query: handle.query(  # type: ignore[misc]
                    names.QUERY_HISTORY_PARTS, q, result_type=HistoryParts
                )
            )
            if parts is None:
                return None
            page = await resolve_history(parts, self._from_shard)
            ends = [e.id for e in parts.events] + [s.first_id + s.count - 1 for s in parts.spans]
            if window.since is not None:
                page = [e for e in page if e.timestamp >= window.since]
            events.extend(page)
            if limit is None or not parts.spans or not ends or len(page) >= limit:
                return events
            after, limit = max(ends), limit - len(page)

    async def get_config(self, pipeline_id: str) -> PipelineConfig:
        """The config the pipeline runs (read from its workflow history; needs no worker)."""
        return await self._calls(lambda: pipeline_config(self._client, pipeline_id))

    async def get_sub_pipelines(self, pipeline_id: str) -> PinnedPipelines | None:
        """The versions the pipeline's sub-pipelines run, as pinned when it was created."""
        return (await self._calls(lambda: pipeline_input(self._client, pipeline_id))).pinned

    async def tenant_of(self, pipeline_id: str) -> str | None:
        """The owning tenant, read from the workflow's ``TenantId`` search attribute."""
        desc = await self._calls(self._handle(pipeline_id).describe, overrides=_BY_ID)
        return desc.typed_search_attributes.get(names.SA_TENANT_ID)

    async def is_closed(self, pipeline_id: str) -> bool:
        """Whether the workflow behind the pipeline has closed."""
        desc = await self._calls(self._handle(pipeline_id).describe)
        return desc.status in _CLOSED

    async def watch_changes(self, pipeline_id: str) -> AsyncIterator[PipelineChange]:
        """Long-polls the workflow's history: a change per completed workflow task, or closing.

        Each change also forgets the statuses kept of the pipeline, so that a stream reading the
        status on a change reads it as of that change or later.
        """
        queue = QueueTimes()
        first = True
        batches = history_batches(self._client, pipeline_id, self._calls)
        try:
            async for batch in batches:
                self._statuses.forget(pipeline_id)
                queue.add(batch.events)
                if first or batch.changes_pipeline:
                    first = False
                    yield PipelineChange(closed=batch.closed, queue_times=dict(queue.seconds))
        finally:
            await batches.aclose()

    async def check_health(self, *, timeout_s: float) -> None:
        """Ask Temporal's health check, then whether the namespace has the search attributes the
        engine needs (registering the missing ones once, when allowed).

        Raises:
            SearchAttributesMissing: Some are missing (named in the message).
        """
        await self._calls(
            lambda: self._client.service_client.check_health(timeout=timedelta(seconds=timeout_s))
        )
        if self._attributes_ok:
            return
        register, self._register_attributes = self._register_attributes, False
        missing = await self._calls(
            lambda: search_attributes.ensure_search_attributes(self._client, register=register)
        )
        if missing:
            raise SearchAttributesMissing(self._client.namespace, missing)
        self._attributes_ok = True


async def final_status(handle: WorkflowHandle[Any, PipelineStatus]) -> PipelineStatus | None:
    """The status an ended workflow left: its result, or the details of its failure."""
    try:
        return await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "PipelineFailed" and cause.details:
            detail = cause.details[0]
            if isinstance(detail, dict) and "state" in detail:
                return PipelineStatus.model_validate(detail)
    return None
