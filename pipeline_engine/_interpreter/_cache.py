"""A step's ``cache``: look its result up before it runs, write it after it succeeds.

The lookup and the write are the runtime's (a local activity each under Temporal, so their
answers are recorded in the history and a replay takes the same path; the fake's memory
in-process). New runs only (:data:`CACHE_PATCH`): a history recorded before the cache replays
without the two commands. A stage retried by ``retry_stage`` runs anew: no lookup (its new result
is written). A hit runs no attempt: the stage is SUCCEEDED with ``cached: true`` and one
``stage.cached`` event.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter._conditions import Conditions, Settled
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy
from pipeline_engine._step_cache import CacheAnswer, CacheRequest
from pipeline_engine.dsl import StepPlan
from pipeline_engine.dsl._expressions import EXPR_KEY
from pipeline_engine.events import EventType
from pipeline_engine.states import StageState
from pipeline_engine.status import StageStatus

__all__ = ["CACHE_PATCH", "StepCache"]

CACHE_PATCH = "step-cache"
"""Patch id: a step with ``cache`` is looked up before it runs and written after."""


class StepCache:
    """The cache of a run's step stages (see the module docstring)."""

    def __init__(self, ctx: RunContext, conditions: Conditions) -> None:
        self._ctx = ctx
        self._conditions = conditions

    def applies(self, plan: StepPlan) -> bool:
        """Whether ``plan`` is cached in this run (asks for the patch only when it is)."""
        return plan.cache_ttl_s is not None and self._ctx.runtime.patched(CACHE_PATCH)

    async def look(
        self,
        plan: StepPlan,
        rec: StageStatus,
        previous: Any,
        policy: FailurePolicy,
        *,
        lookup: bool,
    ) -> CacheRequest | Settled | None:
        """Before ``plan`` runs: a :class:`Settled` value when the cache settled the stage (a hit,
        or a failed ``key`` expression the policy settled), else the request to write its result
        with (``None``: no cache here). ``lookup=False`` (a retry) only makes the request."""
        request: CacheRequest | Settled = await self.request(plan, previous, policy)
        if isinstance(request, Settled) or not lookup:
            return request
        answer = await self.lookup(request)
        if answer.hit:
            return Settled(self.hit(rec, answer))
        return request if answer.key is not None else None

    async def request(self, plan: StepPlan, previous: Any, policy: FailurePolicy) -> Any:
        """What the key of ``plan``'s result on ``previous`` is made of: a :class:`CacheRequest`,
        or a :class:`Settled` when its ``key`` expression failed and the policy settled it."""
        ctx = self._ctx
        assert plan.cache_ttl_s is not None
        request = CacheRequest(
            tenant_id=ctx.tenant_id,
            pipeline_id=ctx.pipeline_id,
            stage_id=plan.stage_id,
            step=plan.step,
            ttl_s=plan.cache_ttl_s,
        )
        if plan.cache_key is None:
            return request.model_copy(
                update={"kwargs": plan.kwargs, "previous": previous, "input": ctx.input}
            )
        value = await self._conditions.compute(plan, {EXPR_KEY: plan.cache_key}, previous, policy)
        if isinstance(value, Settled):
            return value
        return request.model_copy(update={"keyed": True, "key_value": value})

    async def lookup(self, request: CacheRequest) -> CacheAnswer:
        """The cache's answer for ``request`` (the run counts it as running meanwhile)."""
        ctx = self._ctx
        await ctx.unpaused()
        with ctx.counted():
            return await ctx.runtime.cache_lookup(request)

    def hit(self, rec: StageStatus, answer: CacheAnswer) -> Any:
        """The stage of ``rec`` succeeds with the cached result: no attempt ran."""
        ctx = self._ctx
        records = ctx.records
        rec.state = StageState.SUCCEEDED
        rec.cached = True
        rec.error = None
        records.keep_result(rec, answer.result)
        rec.finished_at = ctx.runtime.now()
        records.emit(
            EventType.STAGE_CACHED,
            stage_id=rec.stage_id,
            step=rec.step,
            key=answer.key,
            from_pipeline_id=answer.from_pipeline_id,
        )
        records.refresh_state()
        return answer.result

    async def write(self, request: CacheRequest, result: Any) -> None:
        """Keep ``result`` under ``request``'s key (a failed write is the runtime's to log,
        never the stage's failure)."""
        ctx = self._ctx
        await ctx.unpaused()
        with ctx.counted():
            await ctx.runtime.cache_write(request, result)
