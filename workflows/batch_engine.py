"""Batch operations over Temporal (:class:`TemporalBatchEngine`): a batch is a ``BatchWorkflow``.

A batch's inputs go to the payload store page by page (:mod:`workflows.batch_inputs`); its
workflow starts the pipelines; every read comes from Temporal (the batch workflow's description
and memo, visibility counts of the pipelines carrying its ``BatchId``), through the pipeline
engine's one error translation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from pipeline_engine._ids import keyed_id, legacy_keyed_id
from pipeline_engine.batches import (
    BatchRef,
    BatchStatus,
    RetriedBatch,
)
from pipeline_engine.errors import (
    InvalidState,
    PipelineNotFound,
)
from pipeline_engine.pages import PipelineWhere
from pipeline_engine.service import check_same_request
from pipeline_engine.service.batches import (
    BatchFingerprint,
    BatchRequest,
    SubmittedBatch,
    no_inputs,
)
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import StagePage
from workflows import names
from workflows.batch_inputs import InputPages
from workflows.batch_messages import BatchCancelRequest, BatchProgress, BatchWorkflowInput
from workflows.batch_reads import CLOSED, READ_AHEAD, BatchReads
from workflows.engine import TemporalPipelineEngine
from workflows.engine_commands import _priority
from workflows.payload_store import PayloadStore

__all__ = ["TemporalBatchEngine"]


class TemporalBatchEngine(BatchReads):
    """Batches over Temporal (implements :class:`~pipeline_engine.service.batches.BatchEngine`).

    Args:
        engine: The pipeline engine (its client, task queue and error translation).
        store: Where inputs go (``None``: small batches only, their inputs inline).
    """

    def __init__(self, engine: TemporalPipelineEngine, store: PayloadStore | None) -> None:
        self._engine = engine
        self._client = engine.client
        self._calls = engine.calls
        self._store = store

    # ------------------------------------------------------------------ submit
    async def submit_batch(
        self, request: BatchRequest, inputs: Iterable[Any] | AsyncIterator[Any]
    ) -> SubmittedBatch:
        """Store the inputs page by page, then start the batch's workflow (idempotent)."""
        fingerprint = BatchFingerprint(request)
        if request.idempotency_key is None and not isinstance(inputs, AsyncIterator):
            inputs = list(inputs)
            probe = BatchFingerprint(request)
            for value in inputs:
                probe.add(value)
            batch_id, existing = await self._batch_id(request.tenant_id, probe.hexdigest())
        else:  # a stream without a key is read once: no digest first
            batch_id, existing = await self._batch_id(request.tenant_id, request.idempotency_key)
        pages = InputPages(self._store, namespace=self._client.namespace, batch_id=batch_id)
        if isinstance(inputs, AsyncIterator):
            async for value in inputs:
                fingerprint.add(value)
                if existing is None:
                    await pages.add(value)
                else:
                    pages.total += 1
        else:
            for value in inputs:
                fingerprint.add(value)
                if existing is None:
                    await pages.add(value)
                else:
                    pages.total += 1
        if pages.total == 0:
            raise no_inputs()
        digest = fingerprint.hexdigest()
        if existing is not None:
            return await self._repeat(batch_id, existing, digest, request)
        await pages.finish()
        return await self._start(batch_id, request, pages, digest)

    async def _batch_id(
        self, tenant_id: str | None, key: str | None
    ) -> tuple[str, WorkflowExecutionDescription | None]:
        """The batch's id (from its key or inputs' digest, else a new one) and the batch already
        there, if any: one submitted before ids were keyed by the server secret counts too."""
        if key is None:
            return "bt-" + uuid.uuid4().hex[:24], None
        ids = self._engine.ids
        batch_id = keyed_id(tenant_id, key, ids=ids, prefix="bt-")
        existing = await self._describe_or_none(batch_id)
        legacy = legacy_keyed_id(tenant_id, key, ids=ids, prefix="bt-")
        if existing is None and legacy is not None:
            old = await self._describe_or_none(legacy)
            if old is not None:
                return legacy, old
        return batch_id, existing

    async def _start(
        self, batch_id: str, request: BatchRequest, pages: InputPages, digest: str
    ) -> SubmittedBatch:
        params = BatchWorkflowInput(
            batch_id=batch_id,
            tenant_id=request.tenant_id,
            config=request.config.plan.config,
            pipeline_ref=request.config.ref,
            settings=request.settings or {},
            priority_key=request.priority.key if request.priority else None,
            fairness_weight=request.priority.fairness_weight if request.priority else None,
            total=pages.total,
            max_running=request.max_running,
            inline_inputs=pages.inline,
            pinned=request.config.pinned,
        )
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(names.SA_PIPELINE_STATE, PipelineState.RUNNING.value),
                SearchAttributePair(names.SA_TENANT_ID, request.tenant_id),
                SearchAttributePair(names.SA_PIPELINE_NAME, request.pipeline),
            ]
        )
        memo = {
            names.MEMO_FINGERPRINT: digest,
            names.MEMO_BATCH: {
                "total": pages.total,
                "max_running": request.max_running,
                "pipeline": request.pipeline,
            },
        }

        async def start() -> None:
            await self._client.start_workflow(
                names.BATCH_WORKFLOW_TYPE,
                params,
                id=batch_id,
                task_queue=self._engine.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=attrs,
                memo=memo,
                static_summary=f"batch of {pages.total} {request.pipeline!r} pipelines "
                f"(tenant {request.tenant_id})",
                priority=_priority(request.tenant_id, request.priority),
            )

        try:
            await self._calls(start, passing=(WorkflowAlreadyStartedError,))
        except WorkflowAlreadyStartedError:  # the same request, at the same moment
            existing = await self._describe(batch_id)
            return await self._repeat(batch_id, existing, digest, request)
        ref = BatchRef(batch_id=batch_id, total=pages.total, state=PipelineState.RUNNING.value)
        return SubmittedBatch(ref, created=True)

    async def _repeat(
        self,
        batch_id: str,
        existing: WorkflowExecutionDescription,
        digest: str,
        request: BatchRequest,
    ) -> SubmittedBatch:
        stored = await existing.memo_value(names.MEMO_FINGERPRINT, default=None)
        check_same_request(
            batch_id, fingerprint=digest, stored=stored, idempotency_key=request.idempotency_key
        )
        status = await self._status(batch_id, existing)
        ref = BatchRef(batch_id=batch_id, total=status.total, state=status.state)
        return SubmittedBatch(ref, created=False)

    # ------------------------------------------------------------------ commands
    async def cancel_batch(self, batch_id: str, reason: str, *, actor: str | None) -> BatchStatus:
        """Ask the batch's workflow to stop starting pipelines and cancel the running ones."""
        desc = await self._describe(batch_id)
        if desc.status not in CLOSED:
            handle = self._client.get_workflow_handle(batch_id)
            request = BatchCancelRequest(reason=reason, actor=actor)
            try:
                await self._calls(
                    lambda: asyncio.wait_for(
                        handle.execute_update(
                            names.UPDATE_BATCH_CANCEL, request, result_type=BatchProgress
                        ),
                        10.0,
                    )
                )
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                # no worker applied it in time: the signal is recorded and applied later
                await self._calls(lambda: handle.signal(names.UPDATE_BATCH_CANCEL, request))
            except PipelineNotFound:
                # the run ended between the describe and the update (a batch watched again
                # after retry-failed ends as soon as its pipelines have): nothing to cancel
                if (await self._describe(batch_id)).status not in CLOSED:
                    raise
            desc = await self._describe(batch_id)
        return await self._status(batch_id, desc)

    async def retry_failed(self, batch_id: str, reason: str, *, actor: str | None) -> RetriedBatch:
        """Retry every failed stage of every FAILED pipeline of the batch; a batch whose
        workflow had ended is watched again by a new run of it, until they end once more."""
        desc = await self._describe(batch_id)
        failed: list[str] = []
        token: str | None = None
        where = PipelineWhere(batch_id=batch_id)
        while True:
            page = await self._engine.list_pipelines(
                state=PipelineState.FAILED, where=where, page_size=500, next_page_token=token
            )
            failed.extend(item.pipeline_id for item in page.items)
            token = page.next_page_token
            if token is None:
                break
        gate = asyncio.Semaphore(READ_AHEAD)
        stages = 0
        pipelines = 0

        async def retry(pipeline_id: str) -> None:
            nonlocal stages, pipelines
            async with gate:
                n = await self._retry_pipeline(pipeline_id, reason, actor)
            if n:
                pipelines += 1
                stages += n

        await asyncio.gather(*(retry(pid) for pid in failed))
        if pipelines and desc.status in CLOSED:
            await self._watch_again(batch_id, desc)
        return RetriedBatch(retried_pipelines=pipelines, retried_stages=stages)

    async def _retry_pipeline(self, pipeline_id: str, reason: str, actor: str | None) -> int:
        """Retry every failed stage of one pipeline in one ``retry_failed``; how many stages."""
        try:
            status = await self._engine.get_pipeline(pipeline_id, page=StagePage(limit=0))
        except PipelineNotFound:
            return 0
        if status.state is not PipelineState.FAILED:
            return 0
        try:
            await self._engine.retry_failed(pipeline_id, reason, actor=actor)
        except InvalidState:  # it is no longer held in FAILED (retried meanwhile)
            return 0
        return max(1, status.stage_counts.get(StageState.FAILED.value, 0))

    async def _watch_again(self, batch_id: str, desc: WorkflowExecutionDescription) -> None:
        """Start a new run of an ended batch's workflow that starts nothing and waits."""
        params = await self._first_input(batch_id)
        if params is None:
            return
        memo = {
            names.MEMO_FINGERPRINT: await desc.memo_value(names.MEMO_FINGERPRINT, default=None),
            names.MEMO_BATCH: await desc.memo_value(names.MEMO_BATCH, default={}),
        }
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(names.SA_PIPELINE_STATE, PipelineState.RUNNING.value),
                SearchAttributePair(
                    names.SA_TENANT_ID, desc.typed_search_attributes.get(names.SA_TENANT_ID) or ""
                ),
                SearchAttributePair(
                    names.SA_PIPELINE_NAME,
                    desc.typed_search_attributes.get(names.SA_PIPELINE_NAME) or "",
                ),
            ]
        )
        watch = params.model_copy(update={"started": params.total, "cancel": None})

        async def start() -> None:
            await self._client.start_workflow(
                names.BATCH_WORKFLOW_TYPE,
                watch,
                id=batch_id,
                task_queue=self._engine.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=attrs,
                memo=memo,
                static_summary=f"batch {batch_id}: watching retried pipelines",
            )

        with contextlib.suppress(WorkflowAlreadyStartedError):  # another retry watches it
            await self._calls(start, passing=(WorkflowAlreadyStartedError,))

    async def _first_input(self, batch_id: str) -> BatchWorkflowInput | None:
        handle = self._client.get_workflow_handle(batch_id)

        async def read() -> BatchWorkflowInput | None:
            async for event in handle.fetch_history_events(page_size=1):
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    payloads = event.workflow_execution_started_event_attributes.input.payloads
                    decoded = await self._client.data_converter.decode(
                        payloads, [BatchWorkflowInput]
                    )
                    found: BatchWorkflowInput = decoded[0]
                    return found
                break
            return None

        return await self._calls(read)
