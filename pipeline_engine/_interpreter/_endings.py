"""How a run ends (succeeded, failed, cancelled) and the pipeline's hooks (``on_start``,
``on_success``, ``on_failure``, ``on_cancel``) that run at its edges."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._records import fingerprint
from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine.events import EventType
from pipeline_engine.states import PipelineState
from pipeline_engine.status import ErrorInfo

__all__ = ["Endings"]


class Endings:
    """The ends of one run; ``max_result_bytes`` fails a result too large to leave."""

    def __init__(self, ctx: RunContext, max_result_bytes: int | None) -> None:
        self._ctx = ctx
        self._max_result_bytes = max_result_bytes

    async def run_hook(self, hook: str, previous: Any) -> None:
        """Run hook ``hook`` (if the config has one); its failure is only logged."""
        ctx = self._ctx
        step = getattr(ctx.plan.config.hooks, hook)
        if step is None:
            return
        plan = ctx.hook_plan(f"hook.{hook}", step)
        await ctx.unpaused()
        try:
            with ctx.counted():
                outcome = await ctx.runtime.run_step(ctx.step_call(plan, previous, 0))
        except StepFailed as failed:
            ctx.records.emit(
                EventType.HOOK_FAILED, hook=hook, step=step, error=failed.error.model_dump()
            )
            return
        ctx.records.emit(EventType.HOOK_SUCCEEDED, hook=hook, step=step, attempt=outcome.attempts)

    async def succeeded(self, result: Any) -> None:
        """The walk returned ``result``."""
        records = self._ctx.records
        records.result_bytes = len(fingerprint(result))
        too_large = self._result_too_large(records.result_bytes)
        if too_large is not None:
            records.result_bytes = 0
            await self.failed(too_large)
            return
        records.result = result
        await self.run_hook("on_success", {"state": "SUCCEEDED", "result": result})
        records.skip_pending()
        records.end(PipelineState.SUCCEEDED)
        records.emit(EventType.PIPELINE_SUCCEEDED, state=records.state.value)

    def _result_too_large(self, size: int) -> ErrorInfo | None:
        if self._max_result_bytes is None or size <= self._max_result_bytes:
            return None
        return ErrorInfo(
            type="ResultTooLarge",
            message=f"the pipeline's result is {size} bytes of JSON, over the limit of "
            f"{self._max_result_bytes} bytes; return a smaller result (e.g. a reference to "
            "stored data) from the last stage",
        )

    async def failed(self, error: ErrorInfo) -> None:
        """The pipeline fails for good with ``error``."""
        records = self._ctx.records
        records.error = error
        records.parked.clear()
        await self.run_hook("on_failure", {"state": "FAILED", "error": error.model_dump()})
        records.skip_pending()
        records.end(PipelineState.FAILED)
        records.emit(
            EventType.PIPELINE_FAILED,
            state=records.state.value,
            stage_id=error.stage_id,
            error=error.model_dump(),
            retryable=False,
        )

    async def cancelled(self, root: asyncio.Task[Any] | None, *, run_hook: bool) -> None:
        """The pipeline is cancelled: ``root`` (the walk) is stopped and waited for."""
        records = self._ctx.records
        if root is not None and not root.done():
            root.cancel()
            await asyncio.gather(root, return_exceptions=True)
        if run_hook:
            await self.run_hook(
                "on_cancel", {"state": "CANCELLED", "reason": records.cancel_reason}
            )
        records.skip_pending()
        records.end(PipelineState.CANCELLED)
        records.emit(
            EventType.PIPELINE_CANCELLED, state=records.state.value, reason=records.cancel_reason
        )
