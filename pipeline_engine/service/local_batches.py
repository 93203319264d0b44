"""``LocalBatchEngine``: the :class:`BatchEngine` over a :class:`LocalPipelineEngine` (the fake's).

The rules are the server's (:mod:`workflows.batch_workflow`, :mod:`workflows.batch_engine`): the
batch's id (from its idempotency key, else from everything it runs), its fingerprint and the
conflict of a repeat, the pipelines' ids (from the batch id and the input's index), starting them
in input order within ``max_running`` (a driver task plays the batch's workflow), the state and the
counts (RUNNING while the driver watches; not-started pipelines PENDING, CANCELLED once the batch
is cancelled or over), retry-failed (a driver watches again once the batch had ended) and the
results in input order. Everything is kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline_engine._ids import batch_member_key, keyed_id
from pipeline_engine.batches import (
    ACTIVE_STATES,
    BatchPage,
    BatchPipeline,
    BatchPipelinePage,
    BatchRef,
    BatchResultLine,
    BatchStatus,
    BatchSummary,
    RetriedBatch,
    batch_state,
)
from pipeline_engine.errors import BatchNotFound, InvalidState, PipelineNotFound
from pipeline_engine.service.batches import (
    MAX_INPUTS,
    BatchFingerprint,
    BatchRequest,
    SubmittedBatch,
    no_inputs,
    too_many_inputs,
)
from pipeline_engine.service.engine import BatchMember
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.service.rules import check_same_request, page_of
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import StagePage

__all__ = ["LocalBatchEngine"]

_ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)
_POLL_S = 0.02
"""How often a driver looks at its pipelines (they run in this process: a change is quick)."""


@dataclass
class _Cancel:
    reason: str
    actor: str | None


@dataclass
class _Batch:
    batch_id: str
    request: BatchRequest
    inputs: list[Any]
    fingerprint: str
    seq: int
    started_at: datetime
    recorded: PipelineState = PipelineState.RUNNING
    """The state as last recorded (the search attribute of the server's batch workflow)."""
    pipeline_ids: list[str] = field(default_factory=list)
    """The pipelines started so far, by index."""
    cancel: _Cancel | None = None
    finished_at: datetime | None = None
    driver: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return len(self.inputs)

    @property
    def open(self) -> bool:
        return self.driver is not None and not self.driver.done()


class LocalBatchEngine:
    """Batches of a :class:`LocalPipelineEngine`'s pipelines (implements ``BatchEngine``).

    Args:
        engine: The engine the batches' pipelines run on.
    """

    def __init__(self, engine: LocalPipelineEngine) -> None:
        self._engine = engine
        self._ids = engine._ids  # the pipelines' id rule: the batch ids follow the same one
        self._batches: dict[str, _Batch] = {}

    # ------------------------------------------------------------------ submit
    async def submit_batch(
        self, request: BatchRequest, inputs: Iterable[Any] | AsyncIterator[Any]
    ) -> SubmittedBatch:
        """Keep the inputs and start the batch's driver; the same request (or key), the same
        batch (``Conflict`` when a key comes back with other arguments)."""
        values: list[Any] = []
        fingerprint = BatchFingerprint(request)
        if isinstance(inputs, AsyncIterator):
            async for value in inputs:
                _add(values, fingerprint, value)
        else:
            for value in inputs:
                _add(values, fingerprint, value)
        if not values:
            raise no_inputs()
        digest = fingerprint.hexdigest()
        if request.idempotency_key is not None:
            batch_id = keyed_id(
                request.tenant_id, request.idempotency_key, ids=self._ids, prefix="bt-"
            )
        elif isinstance(inputs, AsyncIterator):
            batch_id = "bt-" + uuid.uuid4().hex[:24]  # as the server: a stream has no id first
        else:
            batch_id = keyed_id(request.tenant_id, digest, ids=self._ids, prefix="bt-")
        existing = self._batches.get(batch_id)
        if existing is not None:
            check_same_request(
                batch_id,
                fingerprint=digest,
                stored=existing.fingerprint,
                idempotency_key=request.idempotency_key,
            )
            status = await self._status(existing)
            ref = BatchRef(batch_id=batch_id, total=status.total, state=status.state)
            return SubmittedBatch(ref, created=False)
        batch = _Batch(
            batch_id, request, values, digest, len(self._batches), started_at=datetime.now(UTC)
        )
        self._batches[batch_id] = batch
        self._drive(batch)
        ref = BatchRef(batch_id=batch_id, total=batch.total, state=PipelineState.RUNNING.value)
        return SubmittedBatch(ref, created=True)

    # ------------------------------------------------------------------ the driver
    def _drive(self, batch: _Batch) -> None:
        batch.finished_at = None
        batch.driver = asyncio.get_running_loop().create_task(
            self._run(batch), name=f"batch-{batch.batch_id}"
        )

    async def _run(self, batch: _Batch) -> None:
        """What the server's ``BatchWorkflow`` does: start in order within ``max_running``,
        cancel when asked, end once every started pipeline ended (or is held FAILED)."""
        request = batch.request
        while True:
            counts = await self._counts(batch)
            ended = sum(counts.get(s.value, 0) for s in _ENDED)
            active = len(batch.pipeline_ids) - ended
            if batch.cancel is not None:
                if active == 0:
                    return await self._finish(batch)
                await self._cancel_pipelines(batch, batch.cancel)
            elif len(batch.pipeline_ids) < batch.total and active < request.max_running:
                start = len(batch.pipeline_ids)
                for index in range(start, min(batch.total, start + request.max_running - active)):
                    await self._start(batch, index)
                continue
            elif len(batch.pipeline_ids) >= batch.total and active == 0:
                return await self._finish(batch)
            batch.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.wake.wait(), _POLL_S)

    async def _start(self, batch: _Batch, index: int) -> None:
        request = batch.request
        created = await self._engine.create_pipeline(
            request.config,
            input=batch.inputs[index],
            tenant_id=request.tenant_id,
            idempotency_key=batch_member_key(batch.batch_id, index),
            settings=request.settings or None,
            start=True,
            priority=request.priority,
            batch=BatchMember(batch.batch_id, index),
        )
        batch.pipeline_ids.append(created.pipeline_id)

    async def _cancel_pipelines(self, batch: _Batch, cancel: _Cancel) -> None:
        for pid in batch.pipeline_ids:
            if await self._engine.get_status(pid) in ACTIVE_STATES:
                with contextlib.suppress(InvalidState):  # it ended meanwhile
                    await self._engine.cancel_pipeline(pid, cancel.reason, actor=cancel.actor)

    async def _finish(self, batch: _Batch) -> None:
        counts = await self._counts(batch)
        unstarted = batch.total - len(batch.pipeline_ids)
        if unstarted:
            key = PipelineState.CANCELLED.value
            counts[key] = counts.get(key, 0) + unstarted
        batch.recorded = batch_state(counts, cancelled=batch.cancel is not None)
        batch.finished_at = datetime.now(UTC)

    # ------------------------------------------------------------------ reads
    def _batch(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise BatchNotFound("batch not found")
        return batch

    async def _states(self, batch: _Batch) -> list[PipelineState]:
        return [await self._engine.get_status(pid) for pid in batch.pipeline_ids]

    async def _counts(self, batch: _Batch) -> dict[str, int]:
        return dict(Counter(state.value for state in await self._states(batch)))

    async def _status(self, batch: _Batch) -> BatchStatus:
        counts = await self._counts(batch)
        cancelled = batch.recorded is PipelineState.CANCELLED
        unstarted = batch.total - len(batch.pipeline_ids)
        if unstarted > 0:
            key = PipelineState.CANCELLED if cancelled or not batch.open else PipelineState.PENDING
            counts[key.value] = counts.get(key.value, 0) + unstarted
        state = PipelineState.RUNNING if batch.open else batch_state(counts, cancelled=cancelled)
        return BatchStatus(
            batch_id=batch.batch_id,
            tenant_id=batch.request.tenant_id,
            pipeline=batch.request.pipeline,
            state=state.value,
            total=batch.total,
            counts=counts,
            max_running=batch.request.max_running,
            started_at=batch.started_at,
            finished_at=batch.finished_at if state is not PipelineState.RUNNING else None,
            # as the server: the reason is told while the batch winds down
            cancel_reason=batch.cancel.reason
            if cancelled and batch.cancel and batch.open
            else None,
        )

    async def get_batch(self, batch_id: str) -> BatchStatus:
        """The batch's state and counts (``BatchNotFound`` when there is no such batch)."""
        return await self._status(self._batch(batch_id))

    async def list_batches(
        self, *, tenant_ids: list[str] | None, page_size: int = 50, next_page_token: str | None
    ) -> BatchPage:
        """Batches newest first (state: as last recorded); ``tenant_ids=None`` means all."""
        rows = sorted(self._batches.values(), key=lambda b: b.seq, reverse=True)
        items = [
            BatchSummary(
                batch_id=b.batch_id,
                tenant_id=b.request.tenant_id,
                pipeline=b.request.pipeline,
                state=b.recorded.value,
                total=b.total,
                started_at=b.started_at,
                finished_at=None if b.open else b.finished_at,
            )
            for b in rows
            if tenant_ids is None or b.request.tenant_id in tenant_ids
        ]
        page, token = page_of(items, page_size=page_size, token=next_page_token)
        return BatchPage(items=page, next_page_token=token)

    def _unstarted(self, batch: _Batch, status: BatchStatus) -> PipelineState:
        running = status.state == PipelineState.RUNNING.value and status.cancel_reason is None
        return PipelineState.PENDING if running else PipelineState.CANCELLED

    def _member(self, batch: _Batch, index: int) -> str | None:
        """The pipeline of input ``index`` once started, else ``None``."""
        return batch.pipeline_ids[index] if index < len(batch.pipeline_ids) else None

    def _member_id(self, batch: _Batch, index: int) -> str:
        pid = self._member(batch, index)
        key = batch_member_key(batch.batch_id, index)
        return pid or keyed_id(batch.request.tenant_id, key, ids=self._ids)

    async def batch_pipelines(
        self,
        batch_id: str,
        *,
        tenant_id: str | None,
        state: PipelineState | None = None,
        page_size: int = 100,
        next_page_token: str | None = None,
    ) -> BatchPipelinePage:
        """A page of the batch's pipelines: input order, or those in ``state``."""
        batch = self._batch(batch_id)
        status = await self._status(batch)
        if state is not None:
            states = await self._states(batch)
            indexes = [i for i, found in enumerate(states) if found is state]
        else:
            indexes = list(range(batch.total))
        page, token = page_of(indexes, page_size=page_size, token=next_page_token)
        unstarted = self._unstarted(batch, status)
        items = []
        for index in page:
            pid = self._member(batch, index)
            found = await self._engine.get_status(pid) if pid is not None else unstarted
            items.append(
                BatchPipeline(
                    index=index, pipeline_id=self._member_id(batch, index), state=found.value
                )
            )
        return BatchPipelinePage(items=items, next_page_token=token)

    async def batch_results(
        self, batch_id: str, *, tenant_id: str | None
    ) -> AsyncIterator[BatchResultLine]:
        """One line per input in input order: its pipeline's state and result or error."""
        batch = self._batch(batch_id)
        status = await self._status(batch)
        unstarted = (
            PipelineState.CANCELLED
            if status.state != PipelineState.RUNNING.value or status.cancel_reason is not None
            else PipelineState.PENDING
        )
        for index in range(status.total):
            pid = self._member(batch, index)
            if pid is None:
                yield BatchResultLine(
                    index=index, pipeline_id=self._member_id(batch, index), state=unstarted.value
                )
                continue
            run = await self._engine.get_pipeline(pid, page=StagePage(limit=0))
            error = run.error.model_dump(mode="json") if run.error is not None else None
            yield BatchResultLine(
                index=index, pipeline_id=pid, state=run.state.value, result=run.result, error=error
            )

    # ------------------------------------------------------------------ commands
    async def cancel_batch(self, batch_id: str, reason: str, *, actor: str | None) -> BatchStatus:
        """No pipeline of the batch starts any more; the running ones are cancelled."""
        batch = self._batch(batch_id)
        if batch.open and batch.cancel is None:
            batch.cancel = _Cancel(reason, actor)
            batch.recorded = PipelineState.CANCELLED
            batch.wake.set()
            await asyncio.sleep(0)  # the driver takes it up
        return await self._status(batch)

    async def retry_failed(self, batch_id: str, reason: str, *, actor: str | None) -> RetriedBatch:
        """Retry every failed stage of every FAILED pipeline of the batch; a batch that had
        ended is watched again until they end once more."""
        batch = self._batch(batch_id)
        pipelines = stages = 0
        for pid in list(batch.pipeline_ids):
            try:
                run = await self._engine.get_pipeline(pid, page=StagePage(limit=0))
            except PipelineNotFound:
                continue
            if run.state is not PipelineState.FAILED:
                continue
            try:
                await self._engine.retry_failed(pid, reason, actor=actor)
            except InvalidState:  # no longer held in FAILED
                continue
            pipelines += 1
            stages += max(1, run.stage_counts.get(StageState.FAILED.value, 0))
        if pipelines and not batch.open:
            batch.cancel = None
            batch.recorded = PipelineState.RUNNING
            self._drive(batch)
        return RetriedBatch(retried_pipelines=pipelines, retried_stages=stages)

    async def aclose(self) -> None:
        """Stop every driver (the pipelines are the pipeline engine's to stop)."""
        drivers = [b.driver for b in self._batches.values() if b.driver and not b.driver.done()]
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)


def _add(values: list[Any], fingerprint: BatchFingerprint, value: Any) -> None:
    if len(values) >= MAX_INPUTS:
        raise too_many_inputs()
    fingerprint.add(value)
    values.append(value)
