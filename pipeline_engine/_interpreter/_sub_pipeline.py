"""The sub-pipeline stage (``type: pipeline``): the tenant's pipeline run as a child, its result the
stage's.

The child's id is the parent's id and the stage id (:func:`child_pipeline_id`). A child that
fails ends at once (it holds nothing itself) and its failure is the stage's, through the
:class:`FailurePolicy` like a step's (``on_failure``, ``continue``, the parent's hold). A
``retry_stage`` (or ``retry_failed``) of the stage redrives the child: a new child run under a new
id (``+2``, ``+3``…: the failed run stays readable) that reuses the results of the stages the
failed run had finished (its status's), so only what failed (and what follows) runs again. A
cancelled parent cancels its child.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline_engine._interpreter._children import (
    ChildFailed,
    SubPipelineCall,
    child_pipeline_id,
    next_child_run,
)
from pipeline_engine._interpreter._conditions import Conditions, Settled
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy
from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine.dsl import SubPipelinePlan
from pipeline_engine.status import ErrorInfo

__all__ = ["SUB_PIPELINES_PATCH", "SubPipelineStage"]

SUB_PIPELINES_PATCH = "sub-pipelines-as-children"
"""Patch id: a sub-pipeline stage starts a child workflow (it failed with NotSupported before)."""


class SubPipelineStage:
    """The element of :class:`SubPipelinePlan` nodes (see the module docstring)."""

    def __init__(self, ctx: RunContext, conditions: Conditions) -> None:
        self._ctx = ctx
        self._conditions = conditions

    async def __call__(self, node: SubPipelinePlan, previous: Any, policy: FailurePolicy) -> Any:
        """The child's result (or what ``on_failure`` makes of its failure)."""
        ctx = self._ctx
        rec = ctx.records.stages[node.stage_id]
        held = ctx.records.held.pop(node.stage_id, None)
        if held is not None:
            await policy.hold(rec, held)
        if not ctx.runtime.patched(SUB_PIPELINES_PATCH):
            return await self._not_supported(node, previous, policy)
        child_input = previous
        if node.input_set:
            computed = await self._conditions.compute(node, node.input, previous, policy)
            if isinstance(computed, Settled):
                return computed.value
            child_input = computed
        reuse: dict[str, Any] | None = None
        while True:
            await ctx.unpaused()
            run = next_child_run(rec.child_pipeline_id)
            child_id = child_pipeline_id(ctx.pipeline_id, node.stage_id, run)
            call = SubPipelineCall(
                ctx.pipeline_id,
                node.stage_id,
                child_id,
                node.name,
                node.version,
                child_input,
                reuse,
            )
            rec.child_pipeline_id = child_id
            ctx.records.scheduled(rec, rec.attempts + 1)
            try:
                with ctx.counted():
                    result = await ctx.runtime.run_sub_pipeline(call)
            except StepFailed as failed:
                if isinstance(failed, ChildFailed):  # a retry reuses what it finished
                    reuse = {**(reuse or {}), **failed.finished} or None
                rec.attempts += 1
                error = failed.error.model_copy(update={"stage_id": node.stage_id})
                if failed.ends_pipeline:
                    await policy.ends_pipeline(rec, error, previous)
                verdict = await policy.after_failure(rec, node.on_failure, error, previous)
                if verdict is RETRY:
                    continue
                return verdict
            except asyncio.CancelledError:
                ctx.records.cancelled(rec)
                raise
            rec.attempts += 1
            ctx.records.succeed(rec, result)
            return result

    async def _not_supported(
        self, node: SubPipelinePlan, previous: Any, policy: FailurePolicy
    ) -> Any:
        """What runs recorded before sub-pipelines ran did: fail the stage, start nothing."""
        rec = self._ctx.records.stages[node.stage_id]
        while True:
            rec.attempts += 1
            error = ErrorInfo(
                type="NotSupported",
                message=f"sub-pipeline {node.name!r}: this engine does not run sub-pipelines yet",
                stage_id=node.stage_id,
            )
            verdict = await policy.after_failure(rec, node.on_failure, error, previous)
            if verdict is not RETRY:
                return verdict
