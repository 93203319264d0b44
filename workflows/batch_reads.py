"""Batch reads over Temporal: a batch's status, its pipelines by page, its results in input order.

Every read comes from Temporal (the batch workflow's description and memo, visibility counts and
lists of the pipelines carrying its ``BatchId``), through the pipeline engine's one error
translation. :class:`~workflows.batch_engine.TemporalBatchEngine` adds the commands.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine._ids import batch_member_key, keyed_id, legacy_keyed_id
from pipeline_engine.batches import (
    BatchPage,
    BatchPipeline,
    BatchPipelinePage,
    BatchResultLine,
    BatchStatus,
    BatchSummary,
    batch_state,
)
from pipeline_engine.errors import (
    BatchNotFound,
    PipelineError,
    PipelineNotFound,
)
from pipeline_engine.pages import PipelineWhere
from pipeline_engine.service import decode_page_token, invalid_page_token
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage
from workflows import names
from workflows.batch_messages import BatchProgress
from workflows.engine import TemporalPipelineEngine
from workflows.engine_visibility import NOT_CONTINUED, quote_value
from workflows.temporal_calls import TemporalCalls

__all__ = ["CLOSED", "READ_AHEAD", "BatchReads"]

READ_AHEAD = 32
"""Pipelines whose result a results stream reads at once (ahead of the line it writes)."""
CLOSED = frozenset(
    {
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
    }
)


def _no_batch(exc: RPCError) -> PipelineError:
    return BatchNotFound("batch not found")


def _token_refused(exc: RPCError) -> PipelineError:
    return invalid_page_token(exc.message)  # a token Temporal cannot use


_NOT_A_BATCH = {RPCStatusCode.NOT_FOUND: _no_batch, RPCStatusCode.INVALID_ARGUMENT: _no_batch}
_TOKEN = {RPCStatusCode.INVALID_ARGUMENT: _token_refused}


class BatchReads:
    """The reads of :class:`~workflows.batch_engine.TemporalBatchEngine` (set up there)."""

    _engine: TemporalPipelineEngine
    _client: Client
    _calls: TemporalCalls

    def _member_id(self, tenant_id: str | None, batch_id: str, index: int) -> str:
        """The id of the batch's pipeline of input ``index``."""
        return keyed_id(tenant_id, batch_member_key(batch_id, index), ids=self._engine.ids)

    def _legacy_member_id(self, tenant_id: str | None, batch_id: str, index: int) -> str | None:
        """The id it had before ids were keyed (``None`` when those are not looked up)."""
        key = batch_member_key(batch_id, index)
        return legacy_keyed_id(tenant_id, key, ids=self._engine.ids)

    async def _describe_or_none(self, batch_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self._describe(batch_id)
        except BatchNotFound:
            return None

    async def _describe(self, batch_id: str) -> WorkflowExecutionDescription:
        handle = self._client.get_workflow_handle(batch_id)
        desc = await self._calls(handle.describe, overrides=_NOT_A_BATCH)
        if desc.workflow_type != names.BATCH_WORKFLOW_TYPE:
            raise BatchNotFound("batch not found")
        return desc

    async def tenant_of(self, batch_id: str) -> str | None:
        """The batch's tenant (``BatchNotFound`` when there is no such batch)."""
        desc = await self._describe(batch_id)
        return desc.typed_search_attributes.get(names.SA_TENANT_ID)

    async def get_batch(self, batch_id: str) -> BatchStatus:
        """The batch's state and counts (visibility counts of its pipelines)."""
        return await self._status(batch_id, await self._describe(batch_id))

    async def _status(self, batch_id: str, desc: WorkflowExecutionDescription) -> BatchStatus:
        info: dict[str, Any] = await desc.memo_value(names.MEMO_BATCH, default={})
        total = int(info.get("total", 0))
        recorded = desc.typed_search_attributes.get(names.SA_PIPELINE_STATE)
        cancelled = recorded == PipelineState.CANCELLED.value
        counts = await self._engine.count_pipelines(where=PipelineWhere(batch_id=batch_id))
        unstarted = total - sum(counts.values())
        if unstarted > 0:
            closed = desc.status in CLOSED
            key = PipelineState.CANCELLED if cancelled or closed else PipelineState.PENDING
            counts[key.value] = counts.get(key.value, 0) + unstarted
        # RUNNING while the workflow watches its pipelines (it ends a few seconds after the last
        # one), so that a batch seen ended has its finish time; then what the counts say (a
        # retried pipeline makes it RUNNING again at once)
        open_ = desc.status not in CLOSED
        state = PipelineState.RUNNING if open_ else batch_state(counts, cancelled=cancelled)
        return BatchStatus(
            batch_id=batch_id,
            tenant_id=desc.typed_search_attributes.get(names.SA_TENANT_ID),
            pipeline=info.get("pipeline"),
            state=state.value,
            total=total,
            counts=counts,
            max_running=info.get("max_running"),
            started_at=desc.start_time,
            finished_at=desc.close_time if state is not PipelineState.RUNNING else None,
            cancel_reason=await self._cancel_reason(batch_id, desc) if cancelled else None,
        )

    async def _cancel_reason(self, batch_id: str, desc: WorkflowExecutionDescription) -> str | None:
        if desc.status in CLOSED:
            return None
        handle = self._client.get_workflow_handle(batch_id)
        try:
            progress = await asyncio.wait_for(
                handle.query(names.QUERY_BATCH_PROGRESS, result_type=BatchProgress), 2.0
            )
        except Exception:  # no worker answered: the reason is only a nicety
            return None
        return progress.cancel.reason if progress.cancel else None

    async def list_batches(
        self, *, tenant_ids: list[str] | None, page_size: int = 50, next_page_token: str | None
    ) -> BatchPage:
        """Batches newest first, from Temporal visibility (state: as last recorded)."""
        if tenant_ids is not None and not tenant_ids:
            return BatchPage()
        query = f"WorkflowType = '{names.BATCH_WORKFLOW_TYPE}' AND {NOT_CONTINUED}"
        if tenant_ids is not None:
            query += (
                f" AND {names.SA_TENANT_ID.name} IN ({', '.join(map(quote_value, tenant_ids))})"
            )
        token = decode_page_token(next_page_token)

        async def fetch() -> BatchPage:
            it = self._client.list_workflows(query, page_size=page_size, next_page_token=token)
            await it.fetch_next_page(page_size=page_size)
            items = []
            for w in it.current_page or []:
                info = (await w.memo()).get(names.MEMO_BATCH, {})
                items.append(
                    BatchSummary(
                        batch_id=w.id,
                        tenant_id=w.typed_search_attributes.get(names.SA_TENANT_ID),
                        pipeline=info.get("pipeline"),
                        state=w.typed_search_attributes.get(names.SA_PIPELINE_STATE),
                        total=info.get("total"),
                        started_at=w.start_time,
                        finished_at=w.close_time,
                    )
                )
            nxt = it.next_page_token.hex() if it.next_page_token else None
            return BatchPage(items=items, next_page_token=nxt)

        page = await self._calls(fetch, overrides=_TOKEN)
        running = [i for i, b in enumerate(page.items) if b.state == PipelineState.RUNNING.value]
        settled = await asyncio.gather(*(self._settled(page.items[i]) for i in running))
        for i, item in zip(running, settled, strict=True):
            page.items[i] = item
        return page

    async def _settled(self, listed: BatchSummary) -> BatchSummary:
        """A batch listed RUNNING as its workflow's own description has it: visibility is
        eventually consistent, and a closed batch's row can keep the RUNNING it started with
        (seen on the dev server: a FAILED batch listed RUNNING for minutes)."""
        desc = await self._describe_or_none(listed.batch_id)
        if desc is None or desc.status not in CLOSED:
            return listed
        status = await self._status(listed.batch_id, desc)
        return listed.model_copy(update={"state": status.state, "finished_at": status.finished_at})

    async def batch_pipelines(
        self,
        batch_id: str,
        *,
        tenant_id: str | None,
        state: PipelineState | None = None,
        page_size: int = 100,
        next_page_token: str | None = None,
    ) -> BatchPipelinePage:
        """A page of the batch's pipelines: input order, or those in ``state`` (as listed)."""
        status = await self.get_batch(batch_id)
        if state is not None:
            return await self._pipelines_in(batch_id, state, page_size, next_page_token)
        raw = decode_page_token(next_page_token)
        start = int.from_bytes(raw, "big") if raw else 0
        end = min(status.total, start + page_size)
        ids = {self._member_id(tenant_id, batch_id, i): i for i in range(start, end)}
        # a batch's pipelines created before ids were keyed have the id of the plain hash
        legacy = {
            old: pid
            for pid, i in ids.items()
            if (old := self._legacy_member_id(tenant_id, batch_id, i)) is not None
        }
        found: dict[str, str] = {}
        if ids:
            query = (
                f"WorkflowType = '{names.WORKFLOW_TYPE}' AND {NOT_CONTINUED} AND "
                f"{names.SA_BATCH_ID.name} = {quote_value(batch_id)} AND "
                f"WorkflowId IN ({', '.join(map(quote_value, [*ids, *legacy]))})"
            )
            renamed: dict[str, str] = {}

            async def fetch() -> None:
                async for w in self._client.list_workflows(query, page_size=len(ids)):
                    found[w.id] = w.typed_search_attributes.get(names.SA_PIPELINE_STATE) or ""

            await self._calls(fetch)
            for old, pid in legacy.items():
                if old in found and pid not in found:
                    renamed[pid] = old
            ids = {renamed.get(pid, pid): i for pid, i in ids.items()}
        unstarted = (
            PipelineState.PENDING
            if status.state == "RUNNING" and status.cancel_reason is None
            else PipelineState.CANCELLED
        )
        items = [
            BatchPipeline(index=i, pipeline_id=pid, state=found.get(pid) or unstarted.value)
            for pid, i in ids.items()
        ]
        more = end < status.total
        return BatchPipelinePage(
            items=items, next_page_token=end.to_bytes(8, "big").hex() if more else None
        )

    async def _pipelines_in(
        self, batch_id: str, state: PipelineState, page_size: int, next_page_token: str | None
    ) -> BatchPipelinePage:
        query = (
            f"WorkflowType = '{names.WORKFLOW_TYPE}' AND {NOT_CONTINUED} AND "
            f"{names.SA_BATCH_ID.name} = {quote_value(batch_id)} AND "
            f"{names.SA_PIPELINE_STATE.name} = {quote_value(state.value)}"
        )
        token = decode_page_token(next_page_token)

        async def fetch() -> BatchPipelinePage:
            it = self._client.list_workflows(query, page_size=page_size, next_page_token=token)
            await it.fetch_next_page(page_size=page_size)
            items = []
            for w in it.current_page or []:
                index = (await w.memo()).get(names.MEMO_BATCH_INDEX, -1)
                items.append(BatchPipeline(index=index, pipeline_id=w.id, state=state.value))
            items.sort(key=lambda p: p.index)
            nxt = it.next_page_token.hex() if it.next_page_token else None
            return BatchPipelinePage(items=items, next_page_token=nxt)

        return await self._calls(fetch, overrides=_TOKEN)

    # ------------------------------------------------------------------ results
    async def batch_results(
        self, batch_id: str, *, tenant_id: str | None
    ) -> AsyncIterator[BatchResultLine]:
        """One line per input in input order, never holding more than :data:`READ_AHEAD`.

        An ended pipeline's line is its workflow's close event (its result or failure: one
        history read, no query, no worker, nothing kept in the status cache), :data:`READ_AHEAD`
        of them in flight. A pipeline with no close event yet (running, or held FAILED: its
        error is the workflow's to tell), or one whose result left its stages out, is read
        through the status query; one Temporal does not know was not started.
        """
        status = await self.get_batch(batch_id)
        unstarted = (
            PipelineState.CANCELLED.value
            if status.state != PipelineState.RUNNING.value or status.cancel_reason is not None
            else PipelineState.PENDING.value
        )
        pending: deque[asyncio.Task[BatchResultLine]] = deque()
        try:
            for index in range(status.total):
                line = self._line(tenant_id, batch_id, index, unstarted)
                pending.append(asyncio.ensure_future(line))
                if len(pending) >= READ_AHEAD:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:
            for task in pending:
                task.cancel()

    async def _line(
        self, tenant_id: str | None, batch_id: str, index: int, unstarted: str
    ) -> BatchResultLine:
        pid = self._member_id(tenant_id, batch_id, index)
        try:
            final = await self._close_event(pid)
        except PipelineNotFound:
            old = self._legacy_member_id(tenant_id, batch_id, index)
            try:  # created before ids were keyed?
                if old is None:
                    raise
                final = await self._close_event(old)
                pid = old
            except PipelineNotFound:
                return BatchResultLine(index=index, pipeline_id=pid, state=unstarted)
        if final is not None and final.complete and not final.result_omitted:
            return _result_line(index, pid, final)
        try:
            found = await self._engine.get_pipeline(pid, page=StagePage(limit=0))
        except PipelineNotFound:
            return BatchResultLine(index=index, pipeline_id=pid, state=unstarted)
        return _result_line(index, pid, found)

    async def _close_event(self, pipeline_id: str) -> PipelineStatus | None:
        """The status an ended pipeline's workflow closed with (``None``: open, or it closed
        otherwise: cancelled or terminated through Temporal); ``PipelineNotFound`` if none."""
        handle = self._client.get_workflow_handle(pipeline_id)

        async def read() -> PipelineStatus | None:
            async for event in handle.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, skip_archival=True
            ):
                return await _status_of_close(self._client, event)
            return None

        return await self._calls(read)


async def _status_of_close(client: Client, event: HistoryEvent) -> PipelineStatus | None:
    """The :class:`PipelineStatus` a close event carries (its result, or its failure's details)."""
    converter = client.data_converter
    if event.HasField("workflow_execution_completed_event_attributes"):
        payloads = event.workflow_execution_completed_event_attributes.result.payloads
        if not payloads:
            return None
        found: PipelineStatus = (await converter.decode(payloads, [PipelineStatus]))[0]
        return found
    if event.HasField("workflow_execution_failed_event_attributes"):
        failure = event.workflow_execution_failed_event_attributes.failure
        cause = await converter.decode_failure(failure)
        if isinstance(cause, ApplicationError) and cause.type == "PipelineFailed" and cause.details:
            detail = cause.details[0]
            if isinstance(detail, dict) and "state" in detail:
                return PipelineStatus.model_validate(detail)
    return None


def _result_line(index: int, pid: str, found: PipelineStatus) -> BatchResultLine:
    error = found.error.model_dump(mode="json") if found.error is not None else None
    return BatchResultLine(
        index=index, pipeline_id=pid, state=found.state.value, result=found.result, error=error
    )
