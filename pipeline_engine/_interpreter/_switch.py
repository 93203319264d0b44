"""The switch stage: the first case whose condition holds runs (else ``default``, else nothing);
the branches that do not run are SKIPPED, and the switch's record says which one ran."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline_engine._interpreter._conditions import Conditions, Settled
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy, StageFailure
from pipeline_engine._interpreter._walk import Walk
from pipeline_engine.dsl import Node, SwitchPlan
from pipeline_engine.events import EventType
from pipeline_engine.states import StageState

__all__ = ["SwitchStage"]


class SwitchStage:
    """The element of :class:`SwitchPlan` nodes."""

    def __init__(self, ctx: RunContext, walk: Walk) -> None:
        self._ctx = ctx
        self._walk = walk

    async def __call__(self, node: SwitchPlan, previous: Any, policy: FailurePolicy) -> Any:
        """The chosen branch's value on ``previous`` (``None`` when no branch runs)."""
        records = self._ctx.records
        rec = records.stages[node.stage_id]
        if rec.state is not StageState.RUNNING:  # not resumed from an earlier run
            rec.state = StageState.RUNNING
            rec.scheduled_at = self._ctx.runtime.now()
            rec.attempts += 1
            records.emit(
                EventType.STAGE_SCHEDULED,
                stage_id=rec.stage_id,
                step="switch",
                attempt=rec.attempts,
            )
        chosen = await self._choose(node, previous, policy, self._walk.conditions)
        if isinstance(chosen, Settled):
            return chosen.value
        branch, element = chosen
        rec.branch = branch
        branches: list[Node] = [c.element for c in node.cases]
        if node.default is not None:
            branches.append(node.default)
        for other in branches:
            if other is not element:
                self._walk.conditions.skip(other, "switch", None)
        value = None
        if element is not None:
            try:
                value = await self._walk.run(element, previous, policy)
            except asyncio.CancelledError:
                records.cancelled(rec)
                raise
            except StageFailure as failure:
                records.failed(rec, failure.error)
                raise
        records.succeed(rec, value)
        return value

    async def _choose(
        self, node: SwitchPlan, previous: Any, policy: FailurePolicy, conditions: Conditions
    ) -> tuple[int | str | None, Node | None] | Settled:
        """(the branch that runs: a case's index, ``"default"`` or None; its element)."""
        for i, case in enumerate(node.cases):
            holds = await conditions.holds(node, case.when, previous, policy)
            if isinstance(holds, Settled):
                return holds
            if holds:
                return i, case.element
        if node.default is not None:
            return "default", node.default
        return None, None
