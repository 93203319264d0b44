"""The sharded fan-out: a wide fan-out's members run in shards (other workflows), a few at a
time, and a shard's run of the interpreter (:func:`serve`).

A shard's stages and events are merged into the pipeline's as it reports
(:mod:`~pipeline_engine._interpreter._progress`). A member that failed for good in a shard is held
in the pipeline as if it had failed there: its retry re-runs it in the pipeline, skipping the
stages that already succeeded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy, StageFailure
from pipeline_engine._interpreter._gate import Gate
from pipeline_engine._interpreter._handoff import HeldStage, ShardCall, ShardFailure, ShardResult
from pipeline_engine._interpreter._members import Members
from pipeline_engine._interpreter._memo import shard_key
from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine._interpreter._tasks import run_all
from pipeline_engine.states import PipelineState

if TYPE_CHECKING:
    from pipeline_engine._interpreter._fanout import FanOut, InProcess

__all__ = ["Sharded", "serve"]


class _Fan:
    """One sharded fan-out under way."""

    def __init__(
        self, ctx: RunContext, members: Members, cap: int | None, policy: FailurePolicy
    ) -> None:
        rt = ctx.runtime
        width = rt.shard_width or 1
        n = len(members)
        size = max(width, math.ceil(n / width))  # so that no run has more than `width` shards
        self.chunks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
        self.fail_fast = policy.fails_fast
        # Per-step caps are counted per workflow: shards of capped steps go one at a time.
        at_once = 1 if ctx.limits else max(1, min(rt.shards_in_flight, len(self.chunks)))
        self.cap = None if cap is None else max(1, cap // at_once)
        self.gate = Gate(at_once)
        self.results: list[Any] = [None] * n
        self.captured: set[str] = set()


class Sharded:
    """Runs a fan-out in shards (see the module docstring)."""

    def __init__(self, ctx: RunContext, in_process: InProcess) -> None:
        self._ctx = ctx
        self._in_process = in_process

    async def run(self, members: Members, cap: int | None, policy: FailurePolicy) -> list[Any]:
        """Run ``members`` in shards: their ordered results."""
        fan = _Fan(self._ctx, members, cap, policy)
        await run_all([self._chunk(fan, members, policy, lo, hi) for lo, hi in fan.chunks])
        return fan.results

    async def _chunk(
        self, fan: _Fan, members: Members, policy: FailurePolicy, lo: int, hi: int
    ) -> None:
        keys = await fan.gate.run(lambda: self._shard(fan, members, policy, lo, hi))
        # What did not end well in its shard (or was not over when this run began) goes on in
        # this run.
        memo = self._ctx.memo
        rest = [lo + i for i, k in enumerate(keys) if k not in memo]
        rest = [i for i in rest if members.key(i) not in fan.captured]
        if rest:
            stages = self._ctx.records.stages
            await run_all(
                [
                    self._in_process.member(
                        *members.member(i, stages), policy, item_run=members.template is not None
                    )
                    for i in rest
                ]
            )
        for i, key in enumerate(keys):
            fan.results[lo + i] = memo.get(key)

    async def _shard(
        self, fan: _Fan, members: Members, policy: FailurePolicy, lo: int, hi: int
    ) -> list[str]:
        """Members ``lo`` to ``hi`` in a shard (made only once a slot is free: a fan-out of
        100,000 writes no more than a few shards' members per workflow task)."""
        memo = self._ctx.memo
        keys = [members.key(i) for i in range(lo, hi)]
        done = shard_key(keys[0], hi - lo)
        if done in memo:
            return keys
        call = members.call(lo, hi).model_copy(
            update={
                "cap": fan.cap,
                "absorb": policy.absorb,
                "fail_fast": fan.fail_fast,
                "values": memo.pick(keys),
            }
        )
        out = await self._run_shard(call, keys[0].rsplit("|", 1)[-1])
        memo.update(out.values)
        failed = {f.member for f in out.failures}
        for key, result in zip(keys, out.results, strict=False):
            if key not in failed:
                memo.put(key, result)
        memo.put(done, True)
        for f in out.failures:
            self._settle(fan, policy, f)
        self._ctx.records.refresh_state()
        return keys

    def _settle(self, fan: _Fan, policy: FailurePolicy, f: ShardFailure) -> None:
        if f.fatal or fan.fail_fast:
            raise StageFailure(f.stage_id, f.error, fatal=f.fatal)
        if policy.captured is not None:
            policy.captured.append(f)
            fan.captured.add(f.member)
        else:
            self._ctx.records.held[f.stage_id] = HeldStage(error=f.error)

    async def _run_shard(self, call: ShardCall, first_stage: str) -> ShardResult:
        await self._ctx.unpaused()
        try:
            with self._ctx.counted():
                return await self._ctx.runtime.run_shard(call)
        except StepFailed as failed:  # a limit reached, or the shard ended without an outcome
            raise StageFailure(first_stage, failed.error, fatal=True) from None


async def serve(ctx: RunContext, fan_out: FanOut, call: ShardCall) -> ShardResult:
    """Run a shard of a pipeline's fan-out in this run (made as a shard's)."""
    records = ctx.records
    records.started = True
    records.started_at = ctx.runtime.now()
    records.state = PipelineState.RUNNING
    ctx.memo.update(call.values)
    members = Members.of_shard(call)
    capture: list[ShardFailure] | None = None if call.absorb or call.fail_fast else []
    policy = FailurePolicy(ctx, holds=False, absorb=call.absorb, captured=capture)
    try:
        results = await fan_out(members, call.cap, policy)
    except StageFailure as failure:
        first = ShardFailure(
            member="-", stage_id=failure.stage_id, error=failure.error, fatal=failure.fatal
        )
        return ShardResult(results=[], failures=[first])
    return ShardResult(
        results=results,
        failures=capture or [],
        values=dict(ctx.memo.values) if capture else {},
    )
