"""Fan-out as a strategy: the walk hands a fan-out's members to :class:`FanOut`, which runs them
in this run (:class:`InProcess`) or, past the runtime's shard width, in shards (other workflows,
:class:`~pipeline_engine._interpreter._shards.Sharded`). Nothing else knows about shards.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from pipeline_engine._interpreter._batches import Batch, checked_batch, enter_run
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy, StageFailure
from pipeline_engine._interpreter._gate import Gate
from pipeline_engine._interpreter._members import Members
from pipeline_engine._interpreter._memo import member_key
from pipeline_engine._interpreter._shards import Sharded
from pipeline_engine._interpreter._tasks import run_all
from pipeline_engine._interpreter._tree import has_input
from pipeline_engine.dsl import Node

__all__ = ["FanOut", "InProcess", "Walker"]

Results = Coroutine[Any, Any, list[Any]]


class Walker(Protocol):
    """What runs a member: the walk."""

    async def run(self, node: Node, previous: Any, policy: FailurePolicy) -> Any:
        """The value of ``node`` run on ``previous``."""
        ...


class InProcess:
    """Runs every member in this run, at most ``cap`` at a time.

    Bounded runs start no more than ``max_in_flight`` members at a time (in order), so a fan-out
    of any width costs the workflow a bounded amount of work per activation.
    """

    def __init__(self, ctx: RunContext, walk: Walker) -> None:
        self._ctx = ctx
        self._walk = walk

    def start(self, members: Members, cap: int | None, policy: FailurePolicy) -> Results:
        """Make the members (a map's runs get their records now), then run them."""
        stages = self._ctx.records.stages
        runs = [members.member(i, stages) for i in range(len(members))]
        return self.run(runs, cap, policy, item_runs=members.template is not None)

    async def run(
        self,
        runs: list[tuple[Node, Any]],
        cap: int | None,
        policy: FailurePolicy,
        *,
        item_runs: bool = False,
    ) -> list[Any]:
        """Each (node, previous) run at once: the ordered results (``item_runs``: the runs of a
        map's element, each over its item)."""
        window = self._ctx.window
        if window:
            window = min(cap or window, window)
            if len(runs) > window:
                return await self._windowed(runs, window, policy, item_runs)
        if not cap:
            return await run_all(
                [self.member(node, prev, policy, item_run=item_runs) for node, prev in runs]
            )
        gate = Gate(cap)

        async def member(node: Node, previous: Any) -> Any:
            return await gate.run(lambda: self.member(node, previous, policy, item_run=item_runs))

        return await run_all([member(node, previous) for node, previous in runs])

    async def _windowed(
        self, runs: list[tuple[Node, Any]], window: int, policy: FailurePolicy, item_runs: bool
    ) -> list[Any]:
        results: list[Any] = [None] * len(runs)
        indexes = iter(range(len(runs)))

        async def worker() -> None:
            for i in indexes:
                node, previous = runs[i]
                results[i] = await self.member(node, previous, policy, item_run=item_runs)

        await run_all([worker() for _ in range(window)])
        return results

    async def member(
        self, node: Node, previous: Any, policy: FailurePolicy, *, item_run: bool = False
    ) -> Any:
        """One member's result, settled by ``policy`` when it fails (memoized by its key).

        ``item_run``: a run of a map's element (its expressions see its ``item`` and ``index``;
        a batch's result must be a list as long as the batch).
        """
        key = member_key(node)
        memo = self._ctx.memo
        if key in memo:
            return memo[key]
        if item_run:
            enter_run(self._ctx, node, previous)
        try:
            if isinstance(previous, Batch):
                value = await self._walk.run(node, list(previous), policy.members())
                value = await checked_batch(self._ctx, self._walk, node, previous, value, policy)
            else:
                value = await self._walk.run(node, previous, policy.members())
        except StageFailure as failure:
            if policy.captures(key, failure):
                return None
            value = policy.absorbed(failure)
        return memo.put(key, value)


class FanOut:
    """The strategy a fan-out runs with: in shards when wide (see the module docstring)."""

    def __init__(self, ctx: RunContext, walk: Walker) -> None:
        self._ctx = ctx
        self.in_process = InProcess(ctx, walk)
        self._sharded = Sharded(ctx, self.in_process)

    def __call__(self, members: Members, cap: int | None, policy: FailurePolicy) -> Results:
        """Run ``members`` (at most ``cap`` at once) under ``policy``: their ordered results."""
        if self._shardable(members):
            return self._sharded.run(members, cap, policy)
        return self.in_process.start(members, cap, policy)

    def _shardable(self, members: Members) -> bool:
        """Past the runtime's shard width, and with no input element in the members."""
        limit = self._ctx.runtime.shard_width
        return limit is not None and len(members) > limit and not any(map(has_input, members.nodes))
