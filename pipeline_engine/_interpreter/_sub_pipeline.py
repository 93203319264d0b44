"""The sub-pipeline stage (``type: pipeline``).

Running a child pipeline needs the tenant's pipeline store, which this engine does not reach yet:
configs with a sub-pipeline are refused when validated (``parse_config`` without a resolver). A
run that holds one anyway (a plan compiled by hand) fails the stage cleanly, never a workflow
task that fails again and again.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy
from pipeline_engine.dsl import SubPipelinePlan
from pipeline_engine.status import ErrorInfo

__all__ = ["SubPipelineStage"]


class SubPipelineStage:
    """The element of :class:`SubPipelinePlan` nodes (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    async def __call__(self, node: SubPipelinePlan, previous: Any, policy: FailurePolicy) -> Any:
        """Fail the stage: sub-pipelines do not run in this engine yet."""
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
