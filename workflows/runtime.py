"""The interpreter's runtime inside a Temporal workflow: activities, timers, search attributes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    RetryState,
)
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from pipeline_engine._interpreter import (
        ShardCall,
        ShardResult,
        StepCall,
        StepFailed,
        StepOutcome,
    )
    from pipeline_engine._interpreter._children import SubPipelineCall, not_resolved
    from pipeline_engine._step_cache import CacheAnswer, CacheRequest
    from pipeline_engine.observability.metric_labels import pipeline_labels
    from pipeline_engine.states import PipelineState
    from pipeline_engine.status import ErrorInfo
    from workflows.children import Children
    from workflows.features import StatePublisher, taken
    from workflows.messages import ShardWorkflowInput, StepActivityInput, StepActivityResult
    from workflows.names import (
        SA_TENANT_ID,
        SHARD_ID_SEPARATOR,
        SHARD_WORKFLOW_TYPE,
    )
    from workflows.step_cache_activities import (
        ACTIVITY_CACHE_LOOKUP,
        ACTIVITY_CACHE_WRITE,
        CacheWriteInput,
    )


HISTORY_TOO_LARGE = "HistoryTooLarge"
"""Error type of a stage not started because the workflow's history is near Temporal's limits."""
SHARD_FAILED = "ShardFailed"
"""Error type of a fan-out whose shard (child workflow) ended without an outcome (terminated)."""
ACTIVITY_PARTS_PATCH = "activity-input-parts"
"""Patch id: the pipeline input, settings and previous result travel as payloads of their own."""
PAYLOADS_TOO_LARGE = "PayloadsTooLarge"
"""Error type of a step whose result exceeds Temporal's payload size limit (2 MiB)."""
_CACHE_CALL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=0.2), maximum_attempts=3),
}
"""A step cache lookup or write (a local activity): short, retried a little, never fatal."""


def _retry_policy(call: StepCall) -> RetryPolicy:
    r = call.retry
    return RetryPolicy(
        initial_interval=timedelta(seconds=r.initial_interval_s),
        backoff_coefficient=r.backoff,
        maximum_interval=timedelta(seconds=r.max_interval_s) if r.max_interval_s else None,
        maximum_attempts=r.max_attempts,
        # A result over Temporal's payload limit fails the same way on every attempt.
        non_retryable_error_types=[*r.non_retryable_errors, PAYLOADS_TOO_LARGE],
    )


def _failure(call: StepCall, err: FailureError) -> StepFailed:
    # A local activity that fails for good may resolve with its bare failure, not an ActivityError.
    cause = err.cause if isinstance(err, ActivityError) else err
    exhausted = (
        isinstance(err, ActivityError) and err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    )
    attempts = call.retry.max_attempts if exhausted else 1
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        if isinstance(details, dict) and isinstance(details.get("attempt"), int):
            attempts = details["attempt"]
        return StepFailed(ErrorInfo(type=cause.type or "Error", message=cause.message), attempts)
    if isinstance(cause, TemporalTimeoutError):
        kind = cause.type.name.lower().replace("_", "-") if cause.type else "activity"
        return StepFailed(
            ErrorInfo(type="TimeoutError", message=f"{kind} timeout after attempt {attempts}"),
            attempts,
        )
    message = str(cause) if cause is not None else str(err)
    return StepFailed(ErrorInfo(type=type(cause or err).__name__, message=message), attempts)


class TemporalRuntime:
    """Runs stages as activities (type = step name, id = stage id) with Temporal retries."""

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        trace_id: str = "",
        history_bound: tuple[int, int] | None = None,
        shard_width: int | None = None,
        shards_in_flight: int = 1,
        shard_input: Callable[[ShardCall], ShardWorkflowInput] | None = None,
        is_shard: bool = False,
        children: Children | None = None,
        features: int = 0,
    ) -> None:
        """``history_bound``: (events, bytes) of history past which no more stages start;
        ``shard_width``: fan-outs wider than this run in ``PipelineShard`` children, whose input
        ``shard_input`` makes; ``is_shard``: this runs a shard (it has no pipeline state);
        ``children``: starts sub-pipelines (none: such a stage fails, not resolved);
        ``features``: the run's feature level (:mod:`workflows.features`)."""
        self.features = features
        self.states = StatePublisher(features)
        self._history_bound = history_bound
        self.shard_width = shard_width if shard_input is not None else None
        self.shards_in_flight = shards_in_flight
        self._shard_input = shard_input
        self._is_shard = is_shard
        self._children = children
        self._tenant = tenant_id or ""
        self._log_fields = {
            "pipeline_id": workflow.info().workflow_id,
            "tenant_id": self._tenant,
            "trace_id": trace_id,
        }
        self.changed = True
        """Something shown in the Web UI may have changed since the details were last drawn."""

    def now(self) -> datetime:
        return workflow.now()

    def _check_history(self) -> None:
        """Fail the pipeline clearly before Temporal terminates it at its history limits."""
        if self._history_bound is None:
            return
        info = workflow.info()
        events, size = info.get_current_history_length(), info.get_current_history_size()
        max_events, max_bytes = self._history_bound
        if events > max_events or size > max_bytes:
            error = ErrorInfo(
                type=HISTORY_TOO_LARGE,
                message=f"the pipeline's workflow history reached {events} events and "
                f"{size} bytes, past this run's bound of {max_events} events or {max_bytes} "
                "bytes (Temporal ends workflows at 51,200 events or 50 MiB); split the pipeline "
                "into smaller ones",
            )
            raise StepFailed(error, 0, ends_pipeline=True)

    def _activity_args(self, call: StepCall) -> list[Any]:
        """The activity's arguments: its input, then the pipeline input, the settings and the
        previous result each as a payload of its own (those that are set). Every activity of a
        pipeline shares the first two, and the previous result was a stage's result: a large
        one is then stored once in the payload store (keys are content hashes), not copied
        into every activity's input. Runs recorded before carry all in one."""
        shared = {"input": call.input, "settings": call.settings, "previous": call.previous}
        parts: list[str] = []
        split = taken(ACTIVITY_PARTS_PATCH, self.features)
        if split:
            parts = [name for name, value in shared.items() if value is not None and value != {}]
        pipeline_id = call.pipeline_id
        if split and workflow.info().workflow_id.split(SHARD_ID_SEPARATOR, 1)[0] == pipeline_id:
            pipeline_id = ""  # the activity reads it from its workflow id (and the stage id from
            # its activity id): about 70 bytes less per scheduled activity in the history
        params = StepActivityInput(
            pipeline_id=pipeline_id,
            tenant_id=call.tenant_id,
            stage_id="" if pipeline_id == "" else call.stage_id,
            kwargs=call.kwargs,
            previous=None if "previous" in parts else call.previous,
            input=None if "input" in parts else call.input,
            settings={} if "settings" in parts else call.settings,
            trace_id=call.trace_id,
            attempt_offset=call.attempt_offset,
            parts=parts,
        )
        return [params, *(shared[name] for name in parts)]

    async def run_step(self, call: StepCall) -> StepOutcome:
        self._check_history()
        args = self._activity_args(call)
        try:
            if call.local:
                # Only configs that say `local` (a field newer than every recorded history) reach
                # this branch, so histories recorded before it replay the same commands.
                out = await workflow.execute_local_activity(
                    call.step,
                    args=args,
                    result_type=StepActivityResult,
                    activity_id=call.stage_id,
                    summary=call.stage_id,
                    start_to_close_timeout=timedelta(seconds=call.timeout_s),
                    retry_policy=_retry_policy(call),
                )
            else:
                out = await workflow.execute_activity(
                    call.step,
                    args=args,
                    result_type=StepActivityResult,
                    activity_id=call.stage_id,
                    summary=call.stage_id,
                    task_queue=call.task_queue,
                    start_to_close_timeout=timedelta(seconds=call.timeout_s),
                    heartbeat_timeout=timedelta(seconds=call.heartbeat_timeout_s),
                    retry_policy=_retry_policy(call),
                )
        except (
            ActivityError,
            ApplicationError,
            TemporalTimeoutError,
            TemporalCancelledError,
        ) as err:
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, TemporalCancelledError):
                raise asyncio.CancelledError(str(cause)) from None
            raise _failure(call, err) from None
        return StepOutcome(result=out.result, attempts=out.attempt)

    async def run_shard(self, call: ShardCall) -> ShardResult:
        assert self._shard_input is not None
        self._check_history()
        params = self._shard_input(call)
        size = len(call.members or call.items or [])
        first = _first_stage_id(call)
        try:
            result: ShardResult = await workflow.execute_child_workflow(
                SHARD_WORKFLOW_TYPE,
                params,
                id=f"{workflow.info().workflow_id}{SHARD_ID_SEPARATOR}{first}+{size}",
                result_type=ShardResult,
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(SA_TENANT_ID, self._tenant)]
                )
                if self._tenant
                else None,
                static_summary=f"shard: {size} members from {first}",
            )
        except ChildWorkflowError as err:
            if isinstance(err.cause, TemporalCancelledError):
                raise asyncio.CancelledError(str(err.cause)) from None
            # Terminated, timed out, or failed in a way nothing in the pipeline can undo.
            error = ErrorInfo(
                type=SHARD_FAILED,
                message=f"the shard running {size} members from {first} ended: {err.cause or err}",
            )
            raise StepFailed(error, 0, ends_pipeline=True) from None
        return result

    async def run_sub_pipeline(self, call: SubPipelineCall) -> Any:
        self._check_history()
        if self._children is None:
            raise StepFailed(not_resolved(call), 1)
        return await self._children.run(call)

    async def wait_condition(
        self, predicate: Callable[[], bool], *, timeout: float | None, summary: str | None = None
    ) -> bool:
        try:
            await workflow.wait_condition(predicate, timeout=timeout, timeout_summary=summary)
        except TimeoutError:
            return predicate()
        return True

    def notify(self) -> None:
        self.changed = True

    def patched(self, patch_id: str) -> bool:
        return taken(patch_id, self.features)

    async def cache_lookup(self, request: CacheRequest) -> CacheAnswer:
        try:
            answer: CacheAnswer = await workflow.execute_local_activity(
                ACTIVITY_CACHE_LOOKUP,
                request,
                result_type=CacheAnswer,
                summary=f"cache lookup {request.stage_id}",
                **_CACHE_CALL,
            )
            return answer
        except (ActivityError, ApplicationError, TemporalTimeoutError) as err:
            _raise_if_cancelled(err)
            workflow.logger.warning("step cache lookup failed: %s", err, extra=self._log_fields)
            return CacheAnswer()  # the step runs; nothing is written

    async def cache_write(self, request: CacheRequest, result: Any) -> None:
        try:
            await workflow.execute_local_activity(
                ACTIVITY_CACHE_WRITE,
                CacheWriteInput(request=request, result=result),
                result_type=bool,
                summary=f"cache write {request.stage_id}",
                **_CACHE_CALL,
            )
        except (ActivityError, ApplicationError, TemporalTimeoutError) as err:
            _raise_if_cancelled(err)
            workflow.logger.warning("step cache write failed: %s", err, extra=self._log_fields)

    def state_changed(self, state: PipelineState) -> None:
        if self._is_shard:
            return  # a shard is part of its pipeline: it has no state of its own
        self.states.changed(state)
        workflow.logger.info("pipeline state %s", state.value, extra=self._log_fields)
        if state.is_terminal or state is PipelineState.RUNNING:
            workflow.metric_meter().create_counter(
                "pipeline_engine_pipeline_transitions", "Pipelines entering a state"
            ).add(1, pipeline_labels(self._tenant, state=state.value))


def _raise_if_cancelled(err: FailureError) -> None:
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, TemporalCancelledError):
        raise asyncio.CancelledError(str(cause)) from None


def _first_stage_id(call: ShardCall) -> str:
    """The first stage of a shard (with its size, it tells a pipeline's shards apart)."""
    node = call.template if call.template is not None else (call.members or [{}])[0]
    while "stage_id" not in node:
        children = node.get("children") or ([node["group"]] if "group" in node else [])
        if not children:
            return "-"
        node = children[0]
    return f"{node['stage_id']}[{call.offset}]" if call.template is not None else node["stage_id"]
