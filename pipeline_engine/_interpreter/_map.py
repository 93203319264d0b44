"""The map stage: resolve the list at ``items`` in the previous value, then fan the element out
over it (one run per item, or per batch of ``batch_size`` items, its stage ids ending in ``[i]``);
with ``tolerated_failures``, failed items are marked and counted: one too many fails the map
(held like any failure; its retry runs the failed items again)."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline_engine._interpreter._batches import batches, per_item
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy, StageFailure
from pipeline_engine._interpreter._fanout import FanOut
from pipeline_engine._interpreter._members import Members
from pipeline_engine._interpreter._pointer import resolve_items
from pipeline_engine._interpreter._tolerance import failed_entries, too_many_failures
from pipeline_engine.dsl import MapPlan
from pipeline_engine.events import EventType
from pipeline_engine.states import StageState
from pipeline_engine.status import ErrorInfo, StageStatus

__all__ = ["MapStage"]


class _Verdict(Exception):
    """What ``on_failure`` made of unresolvable items: the map's value."""

    def __init__(self, value: Any) -> None:
        super().__init__("map items did not resolve")
        self.value = value


class MapStage:
    """The element of :class:`MapPlan` nodes."""

    def __init__(self, ctx: RunContext, fan_out: FanOut) -> None:
        self._ctx = ctx
        self._fan_out = fan_out

    async def __call__(self, node: MapPlan, previous: Any, policy: FailurePolicy) -> Any:
        """The element's results over the items, in order."""
        ctx = self._ctx
        rec = ctx.records.stages[node.stage_id]
        held = ctx.records.held.pop(node.stage_id, None)
        if held is not None:
            await policy.hold(rec, held)
        try:
            items = await self._items(node, rec, previous, policy)
        except _Verdict as verdict:
            return verdict.value
        runs = batches(items, node.batch_size) if node.batch_size else items
        members = Members(template=node.element, items=runs, batched=node.batch_size is not None)
        absorb = node.on_error == "continue" or node.tolerated_failures is not None
        while True:
            work = self._fan_out(members, node.max_concurrency, policy.fan_out(absorb=absorb))
            ctx.records.refresh_state()
            try:
                results = await work
            except asyncio.CancelledError:
                ctx.records.cancelled(rec)
                raise
            except StageFailure as failure:
                ctx.records.failed(rec, failure.error)
                raise
            if node.batch_size:
                results = per_item(results, runs)
            if node.tolerated_failures is None or node.on_error == "continue":
                break
            error = too_many_failures(results, node.tolerated_failures, rec.stage_id, "items")
            if error is None:
                break
            settled = await policy.after_failure(rec, "fail", error, previous)
            if settled is not RETRY:
                return settled
            self._forget_failed(members)  # the retry runs the failed items again
        ctx.records.succeed(rec, results)
        return results

    def _forget_failed(self, members: Members) -> None:
        """Drop the failure markers the runs left, so the runs are made again."""
        memo = self._ctx.memo
        for i in range(len(members)):
            key = members.key(i)
            if failed_entries([memo.get(key)]):
                memo.values.pop(key, None)

    async def _items(
        self, node: MapPlan, rec: StageStatus, previous: Any, policy: FailurePolicy
    ) -> list[Any]:
        """The items (the map scheduled); raises :class:`_Verdict` when they do not resolve."""
        resumed = rec.state is StageState.RUNNING  # it was running in an earlier run
        while True:
            if not resumed:
                rec.state = StageState.RUNNING
                rec.scheduled_at = self._ctx.runtime.now()
                rec.attempts += 1
                self._ctx.records.emit(
                    EventType.STAGE_SCHEDULED,
                    stage_id=rec.stage_id,
                    step="map",
                    attempt=rec.attempts,
                )
            resumed = False
            try:
                return resolve_items(previous, node.items)
            except ValueError as exc:
                error = ErrorInfo(type="InvalidItems", message=str(exc), stage_id=rec.stage_id)
                verdict = await policy.after_failure(rec, "fail", error, previous)
                if verdict is not RETRY:
                    raise _Verdict(verdict) from None
