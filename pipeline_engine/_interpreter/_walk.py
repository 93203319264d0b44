"""The tree walk: each node to the element that runs it, and the elements that only arrange
others (chain, group, chord, DAG).

Stages (step, input, map, switch) are elements registered by the run (:meth:`Walk.register`); a
node with a ``stage_id`` is a stage, and its value is memoized here, once for all of them, so a
resumed walk never runs a stage again. A node's ``when`` is evaluated here too, for every kind of
node: false skips it (:mod:`~pipeline_engine._interpreter._conditions`). Fan-outs are run by the
:class:`FanOut` strategy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline_engine._interpreter._conditions import Conditions, Settled
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy, StageFailure
from pipeline_engine._interpreter._fanout import FanOut
from pipeline_engine._interpreter._members import Members
from pipeline_engine._interpreter._tasks import gather_tasks
from pipeline_engine._interpreter._tolerance import failed_entries, too_many_failures
from pipeline_engine.dsl import ChainPlan, ChordPlan, DagPlan, GroupPlan, Node, StepPlan

__all__ = ["Element", "Walk"]

Element = Callable[[Any, Any, FailurePolicy], Awaitable[Any]]
"""Runs a node of one type: ``(node, previous, policy) -> value``."""


class Walk:
    """Runs plan nodes; :meth:`register` adds the element of a node type."""

    def __init__(self, ctx: RunContext) -> None:
        self._memo = ctx.memo
        self.conditions = Conditions(ctx)
        self.fan_out = FanOut(ctx, self)
        self._elements: dict[type, Element] = {
            ChainPlan: self._chain,
            GroupPlan: self._group,
            ChordPlan: self._chord,
            DagPlan: self._dag,
        }

    def register(self, kind: type, element: Element) -> None:
        """Run nodes of type ``kind`` with ``element``."""
        self._elements[kind] = element

    async def run(self, node: Node, previous: Any, policy: FailurePolicy) -> Any:
        """The value of ``node`` run on ``previous``."""
        stage_id: str | None = getattr(node, "stage_id", None)
        if stage_id is not None and stage_id in self._memo:
            return self._memo[stage_id]
        when: str | None = getattr(node, "when", None)
        value: Any = None
        holds = True if when is None else await self.conditions.holds(node, when, previous, policy)
        if isinstance(holds, Settled):
            value = holds.value
        elif holds:
            value = await self._elements[type(node)](node, previous, policy)
        else:
            self.conditions.skip(node, "when", when)
        return value if stage_id is None else self._memo.put(stage_id, value)

    async def _chain(self, node: ChainPlan, previous: Any, policy: FailurePolicy) -> Any:
        value = previous
        for child in node.children:
            value = await self.run(child, value, policy)
        return value

    async def _group(self, node: GroupPlan, previous: Any, policy: FailurePolicy) -> list[Any]:
        if node.tolerated_failures is None:
            return await self._fan(node, previous, policy.fan_out(absorb=False))
        results = await self._fan(node, previous, policy.fan_out(absorb=True))
        failed = failed_entries(results)
        error = too_many_failures(results, node.tolerated_failures, "", "members")
        if error is not None:  # a group has no stage of its own: its first failed member fails
            sid = str(failed[0].get("stage_id"))
            raise StageFailure(sid, error.model_copy(update={"stage_id": sid}))
        return results

    async def _chord(self, node: ChordPlan, previous: Any, policy: FailurePolicy) -> Any:
        absorb = node.on_error == "continue"
        results = await self._fan(node.group, previous, policy.fan_out(absorb=absorb))
        if node.callback is None:
            return results
        return await self.run(node.callback, results, policy)

    def _fan(self, node: GroupPlan, previous: Any, policy: FailurePolicy) -> Awaitable[list[Any]]:
        members = Members(members=node.children, previous=previous)
        return self.fan_out(members, node.max_concurrency, policy)

    async def _dag(self, node: DagPlan, previous: Any, policy: FailurePolicy) -> Any:
        tasks: dict[str, asyncio.Task[Any]] = {}

        async def stage(plan: StepPlan, deps: tuple[str, ...]) -> Any:
            inputs = {}
            for dep in deps:
                inputs[dep] = await tasks[dep]
            return await self.run(plan, inputs, policy)

        for s in node.stages:
            tasks[s.step.stage_id] = asyncio.create_task(stage(s.step, s.depends_on))
        results = await gather_tasks(list(tasks.values()))
        by_id = dict(zip(tasks, results, strict=True))
        if len(node.sinks) == 1:
            return by_id[node.sinks[0]]
        return {sid: by_id[sid] for sid in node.sinks}
