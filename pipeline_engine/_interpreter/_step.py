"""The step stage: run a step (within its ``max_concurrency`` and the run's ``max_in_flight``),
its failures to the :class:`FailurePolicy`, again when a retry is asked for; a step with
``cache`` is looked up first and written after (:mod:`~pipeline_engine._interpreter._cache`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline_engine._interpreter._cache import StepCache
from pipeline_engine._interpreter._conditions import Conditions, Settled
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy
from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine._step_cache import CacheRequest
from pipeline_engine.dsl import StepPlan

__all__ = ["StepStage"]


class StepStage:
    """The element of :class:`StepPlan` nodes."""

    def __init__(self, ctx: RunContext, conditions: Conditions) -> None:
        self._ctx = ctx
        self._conditions = conditions
        self._cache = StepCache(ctx, conditions)

    async def __call__(self, plan: StepPlan, previous: Any, policy: FailurePolicy) -> Any:
        """The step's result on ``previous`` (or what ``on_failure`` makes of its failure)."""
        ctx = self._ctx
        rec = ctx.records.stages[plan.stage_id]
        held = ctx.records.held.pop(plan.stage_id, None)
        if held is not None:
            await policy.hold(rec, held)  # raises, or returns when asked to retry
        if plan.expr_kwargs:  # computed as the stage starts, shown in its status
            kwargs = await self._conditions.compute(plan, plan.kwargs, previous, policy)
            if isinstance(kwargs, Settled):
                return kwargs.value
            rec.computed_kwargs = kwargs
            plan = replace(plan, kwargs=kwargs)
        request: CacheRequest | None = None
        if self._cache.applies(plan):  # a retried stage (held) runs anew: no lookup
            looked = await self._cache.look(plan, rec, previous, policy, lookup=held is None)
            if isinstance(looked, Settled):  # a hit, or a failed key the policy settled
                return looked.value
            request = looked
        while True:
            try:
                async with ctx.limit(plan.step), ctx.in_flight:
                    outcome = await ctx.attempt(rec, ctx.step_call(plan, previous, rec.attempts))
            except StepFailed as failed:
                rec.attempts += failed.attempts
                error = failed.error.model_copy(update={"stage_id": plan.stage_id})
                if failed.ends_pipeline:  # no handler, no hold: raises
                    await policy.ends_pipeline(rec, error, previous)
                verdict = await policy.after_failure(rec, plan.on_failure, error, previous)
                if verdict is RETRY:
                    continue
                return verdict
            rec.attempts += outcome.attempts
            ctx.records.succeed(rec, outcome.result)
            if request is not None:
                await self._cache.write(request, outcome.result)
            return outcome.result
