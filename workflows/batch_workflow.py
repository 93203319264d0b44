"""``BatchWorkflow``: starts one pipeline per input of a batch, at most ``max_running`` at once.

The workflow holds no input and no pipeline state: it keeps one number, how many pipelines it has
started (inputs ``0 … started-1``), and asks Temporal visibility how many of them ended (or are
held FAILED). Each pipeline's id is derived from the batch id and its input's index, and every
start goes through the engine's idempotent create, so an activity retried after a worker or
server restart starts nothing twice and loses nothing. Long batches continue as new with that
number (a run's history stays a few thousand events whatever the batch's size).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pipeline_engine.batches import batch_state
    from pipeline_engine.observability.metric_labels import pipeline_labels
    from pipeline_engine.states import PipelineState
    from workflows import names
    from workflows.batch_messages import (
        BatchCancelRequest,
        BatchCounts,
        BatchCountsRequest,
        BatchOutcome,
        BatchProgress,
        BatchStartRequest,
        BatchWorkflowInput,
        CancelBatchPipelines,
    )

START_CHUNK = 500
"""Most pipelines one activity starts (it heartbeats as it goes)."""
_POLL_MIN_S = 1.0
_POLL_MAX_S = 3.0
_CONTINUE_AFTER_EVENTS = 8_000
_ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)
_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)  # fmt: skip
"""Unlimited attempts: starting and counting are idempotent, and Temporal may be restarting."""


@workflow.defn(name=names.BATCH_WORKFLOW_TYPE)
class BatchWorkflow:
    """One batch: starts its pipelines in input order within ``max_running``; cancel stops it."""

    @workflow.init
    def __init__(self, params: BatchWorkflowInput) -> None:
        self._params = params
        self._started = params.started
        self._cancel = params.cancel

    @workflow.run
    async def run(self, params: BatchWorkflowInput) -> BatchOutcome:
        """Start pipelines as slots free up; end once every pipeline ended or is held FAILED."""
        poll = _POLL_MIN_S
        while True:
            counts = await self._counts()
            ended = sum(counts.get(s.value, 0) for s in _ENDED)
            active = max(0, self._started - ended)
            if self._cancel is not None:
                if active == 0:
                    return self._finish(counts)
                # again on every round: visibility may not have listed the latest ones yet
                await self._cancel_pipelines(self._cancel)
            elif self._started < params.total and active < params.max_running:
                count = min(params.max_running - active, params.total - self._started, START_CHUNK)
                await self._start(self._started, count)
                self._started += count
                poll = _POLL_MIN_S
                continue
            elif self._started >= params.total and active == 0:
                return self._finish(counts)
            if workflow.info().get_current_history_length() > _CONTINUE_AFTER_EVENTS:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    params.model_copy(update={"started": self._started, "cancel": self._cancel})
                )
            await self._wait_for_cancel(timeout=poll)
            poll = min(_POLL_MAX_S, poll * 1.5)

    async def _wait_for_cancel(self, *, timeout: float) -> None:
        """Sleep ``timeout`` seconds, or less when a cancel comes in."""
        before = self._cancel
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._cancel is not before, timeout=timeout)

    def _finish(self, counts: dict[str, int]) -> BatchOutcome:
        params = self._params
        full = dict(counts)
        unstarted = params.total - self._started
        if unstarted:
            key = PipelineState.CANCELLED.value
            full[key] = full.get(key, 0) + unstarted
        state = batch_state(full, cancelled=self._cancel is not None)
        workflow.upsert_search_attributes([names.SA_PIPELINE_STATE.value_set(state.value)])
        # not a command (nothing in the history) and not recorded while a history replays
        workflow.metric_meter().create_counter(
            "pipeline_engine_batches_ended", "Batches that ended, by state"
        ).add(1, pipeline_labels(params.tenant_id or "", state=state.value))
        return BatchOutcome(state=state.value, counts=full, started=self._started)

    async def _counts(self) -> dict[str, int]:
        found = await workflow.execute_activity(
            names.ACTIVITY_BATCH_COUNT,
            BatchCountsRequest(batch_id=self._params.batch_id),
            result_type=BatchCounts,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_ACTIVITY_RETRY,
            summary="count pipelines",
        )
        counts: dict[str, int] = found.counts
        return counts

    async def _start(self, start: int, count: int) -> None:
        params = self._params
        inline = params.inline_inputs
        await workflow.execute_activity(
            names.ACTIVITY_BATCH_START,
            BatchStartRequest(
                batch_id=params.batch_id,
                tenant_id=params.tenant_id,
                config=params.config,
                pipeline_ref=params.pipeline_ref,
                settings=params.settings,
                priority_key=params.priority_key,
                fairness_weight=params.fairness_weight,
                start=start,
                count=count,
                inputs=inline[start : start + count] if inline is not None else None,
                pinned=params.pinned,
            ),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=_ACTIVITY_RETRY,
            summary=f"start pipelines {start}-{start + count - 1}",
        )

    async def _cancel_pipelines(self, request: BatchCancelRequest) -> None:
        await workflow.execute_activity(
            names.ACTIVITY_BATCH_CANCEL,
            CancelBatchPipelines(
                batch_id=self._params.batch_id, reason=request.reason, actor=request.actor
            ),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=_ACTIVITY_RETRY,
            summary="cancel running pipelines",
        )

    def _request_cancel(self, request: BatchCancelRequest) -> BatchProgress:
        if self._cancel is None:
            self._cancel = request
            workflow.upsert_search_attributes(
                [names.SA_PIPELINE_STATE.value_set(PipelineState.CANCELLED.value)]
            )
        return self.progress()

    @workflow.update(name=names.UPDATE_BATCH_CANCEL)
    def cancel(self, request: BatchCancelRequest) -> BatchProgress:
        """Stop starting pipelines and cancel the running ones (repeats change nothing)."""
        return self._request_cancel(request)

    @workflow.signal(name=names.UPDATE_BATCH_CANCEL)
    def cancel_signal(self, request: BatchCancelRequest) -> None:
        """The ``cancel`` update as a signal (``temporal workflow signal --name cancel``)."""
        self._request_cancel(request)

    @workflow.query(name=names.QUERY_BATCH_PROGRESS)
    def progress(self) -> BatchProgress:
        """How many pipelines were started, and whether the batch is cancelled."""
        return BatchProgress(started=self._started, total=self._params.total, cancel=self._cancel)
