"""Sub-pipelines on Temporal: a child ``PipelineWorkflow`` per sub-pipeline stage.

The child runs the version pinned in its parent's input (never read from a store), with its
parent's tenant, settings, trace, limits and task queue (a child workflow's default), and the
same pinned table for its own sub-pipelines. Its id is the parent's id and the stage id; it
carries the ``TenantId`` search attribute, so the API reads and commands it like any pipeline.
A cancelled parent cancels it and waits for it to end (``WAIT_CANCELLATION_COMPLETED``); a parent
that closes otherwise terminates it (Temporal's default parent-close policy).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.exceptions import CancelledError as TemporalCancelledError

with workflow.unsafe.imports_passed_through():
    from pipeline_engine._interpreter import StepFailed
    from pipeline_engine._interpreter._children import (
        ChildFailed,
        PinnedPipelines,
        SubPipelineCall,
        child_config,
        child_error,
        finished_stages,
        not_resolved,
    )
    from pipeline_engine.dsl._references import reference_label
    from pipeline_engine.states import PipelineState
    from pipeline_engine.status import ErrorInfo, PipelineStatus
    from workflows.messages import PipelineWorkflowInput, RunLimits, ShardWorkflowInput
    from workflows.names import SA_PIPELINE_NAME, SA_PIPELINE_STATE, SA_TENANT_ID, WORKFLOW_TYPE

__all__ = ["Children"]


class Children:
    """Starts a run's child pipelines (the ``TemporalRuntime``'s sub-pipeline calls)."""

    def __init__(
        self,
        *,
        pinned: PinnedPipelines | None,
        tenant_id: str | None,
        settings: dict[str, Any],
        trace_id: str,
        limits: RunLimits | None,
    ) -> None:
        self._pinned = pinned
        self._tenant_id = tenant_id
        self._settings = settings
        self._trace_id = trace_id
        self._limits = limits

    @classmethod
    def of(
        cls, params: PipelineWorkflowInput | ShardWorkflowInput, limits: RunLimits | None
    ) -> Children:
        """The children of the run of ``params`` (a pipeline's, or a shard's of it)."""
        return cls(
            pinned=params.pinned,
            tenant_id=params.tenant_id,
            settings=params.settings,
            trace_id=params.trace_id,
            limits=limits,
        )

    def _input(self, call: SubPipelineCall) -> PipelineWorkflowInput:
        pinned = self._pinned.find(call.name, call.version) if self._pinned else None
        if pinned is None:
            raise StepFailed(not_resolved(call), 1)
        return PipelineWorkflowInput(
            config=child_config(pinned),
            tenant_id=self._tenant_id,
            input=call.input,
            settings=self._settings,
            trace_id=self._trace_id,
            autostart=True,
            local_steps=pinned.local_steps,
            limits=self._limits,
            pinned=self._pinned,
            pipeline_ref=pinned.ref,
            reuse=call.reuse,
            input_as_previous=True,
        )

    async def run(self, call: SubPipelineCall) -> Any:
        """The child's result (see the module docstring); cancelling the caller cancels it."""
        params = self._input(call)
        child = asyncio.create_task(self._child(call, params))
        try:
            return await asyncio.shield(child)
        except asyncio.CancelledError:
            if child.done():
                raise
            self._cancelling = True
            child.cancel()
            await workflow.wait([child])
            raise

    _cancelling = False

    async def _child(self, call: SubPipelineCall, params: PipelineWorkflowInput) -> Any:
        attrs = [
            SearchAttributePair(SA_PIPELINE_STATE, PipelineState.RUNNING.value),
            SearchAttributePair(SA_PIPELINE_NAME, params.config.name),
        ]
        if self._tenant_id:
            attrs.append(SearchAttributePair(SA_TENANT_ID, self._tenant_id))
        try:
            status: PipelineStatus = await workflow.execute_child_workflow(
                WORKFLOW_TYPE,
                params,
                id=call.child_id,
                result_type=PipelineStatus,
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                search_attributes=TypedSearchAttributes(attrs),
                static_summary=f"sub-pipeline {reference_label(call.name, call.version)} "
                f"of {call.pipeline_id} (stage {call.stage_id})",
            )
        except ChildWorkflowError as err:
            raise self._failure(call, err) from None
        return status.result

    def _failure(self, call: SubPipelineCall, err: ChildWorkflowError) -> BaseException:
        cause = err.cause
        if isinstance(cause, TemporalCancelledError):
            if self._cancelling:  # its parent cancelled it
                return asyncio.CancelledError(str(cause))
            return StepFailed(child_error(call, True, None), 1)
        status: PipelineStatus | None = None
        if isinstance(cause, ApplicationError) and cause.details:
            try:
                status = PipelineStatus.model_validate(cause.details[0])
            except ValueError:
                status = None
        error = status.error if status is not None else None
        if error is None:
            error = ErrorInfo(type=type(cause or err).__name__, message=str(cause or err))
        finished = finished_stages(status) if status is not None else {}
        return ChildFailed(child_error(call, False, error), finished)
