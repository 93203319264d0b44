"""The sharded fan-out: a wide fan-out's members run in shards (other workflows), a few at a
time, and a shard's run of the interpreter (:func:`serve`).

A shard's stages and events are merged into the pipeline's as it reports
(:mod:`~pipeline_engine._interpreter._progress`); in runs since :data:`THIN_FAN_OUT_PATCH` the
pipeline keeps only a :class:`Block` per shard (counts, live stages) and reads the rest from the
shard (:mod:`~pipeline_engine._interpreter._blocks`). A member that failed for good in a shard is
held in the pipeline as if it had failed there: its retry re-runs it in the pipeline, skipping the
stages that already succeeded (a thin pipeline adopts the member's records from the shard).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from pipeline_engine._interpreter._blocks import THIN_FAN_OUT_PATCH, Block
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FailurePolicy, StageFailure
from pipeline_engine._interpreter._gate import Gate
from pipeline_engine._interpreter._handoff import HeldStage, ShardCall, ShardFailure, ShardResult
from pipeline_engine._interpreter._members import Members
from pipeline_engine._interpreter._memo import shard_key
from pipeline_engine._interpreter._runtime import StepFailed
from pipeline_engine._interpreter._tasks import run_all
from pipeline_engine.dsl import stages_of
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
        self.blocks: dict[int, Block] = {}
        """Thin: each chunk's block, by its first member."""


class Sharded:
    """Runs a fan-out in shards (see the module docstring)."""

    def __init__(self, ctx: RunContext, in_process: InProcess) -> None:
        self._ctx = ctx
        self._in_process = in_process

    async def run(self, members: Members, cap: int | None, policy: FailurePolicy) -> list[Any]:
        """Run ``members`` in shards: their ordered results."""
        fan = _Fan(self._ctx, members, cap, policy)
        if self._ctx.runtime.patched(THIN_FAN_OUT_PATCH):
            self._open_blocks(fan, members)
        await run_all([self._chunk(fan, members, policy, lo, hi) for lo, hi in fan.chunks])
        return fan.results

    def _open_blocks(self, fan: _Fan, members: Members) -> None:
        """Thin parent: a block per chunk, laid where its members' stages were; the members'
        records leave this run (their shards keep them)."""
        records = self._ctx.records
        own = records.stages
        by_stage: dict[str, int] = {}  # a group member's stage id -> its chunk
        ids: dict[int, list[str]] = {}
        for lo, hi in fan.chunks:
            nodes = members.members[lo:hi] if members.template is None else None
            block = Block(key=shard_key(members.key(lo), hi - lo), position=len(own), nodes=nodes)
            fan.blocks[lo] = records.blocks.open(block, own)
            chunk_ids = [p.stage_id for n in nodes or () for p in stages_of(n)[0]]
            ids[lo] = [sid for sid in chunk_ids if sid not in fan.blocks[lo].adopted]
            by_stage.update(dict.fromkeys(ids[lo], lo))
        if not by_stage:
            return
        placed: set[int] = set()
        position = 0
        for sid in own:
            lo_ = by_stage.get(sid)
            if lo_ is None:
                position += 1
            elif lo_ not in placed:
                placed.add(lo_)
                fan.blocks[lo_].position = position
        for lo, chunk_ids in ids.items():
            fan.blocks[lo].pending = len(chunk_ids)
            for sid in chunk_ids:
                own.pop(sid, None)

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
        block = fan.blocks.get(lo)
        call = members.call(lo, hi).model_copy(
            update={
                "cap": fan.cap,
                "absorb": policy.absorb,
                "fail_fast": fan.fail_fast,
                "values": memo.pick(keys),
                "block": block.key if block is not None else None,
            }
        )
        out = await self._run_shard(call, keys[0].rsplit("|", 1)[-1])
        memo.update(out.values)
        if block is not None:
            for rec in out.stages:  # failed members: retried here, so kept here
                self._ctx.records.stages[rec.stage_id] = rec
                block.adopt(rec)
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
    thin = call.block is not None
    try:
        results = await fan_out(members, call.cap, policy)
    except StageFailure as failure:
        if thin:
            records.skip_pending()  # its parent keeps only counts: nothing stays PENDING
        first = ShardFailure(
            member="-", stage_id=failure.stage_id, error=failure.error, fatal=failure.fatal
        )
        return ShardResult(results=[], failures=[first])
    except asyncio.CancelledError:
        if thin:
            records.skip_pending()
        raise
    memo = ctx.memo
    return ShardResult(
        results=results,
        failures=capture or [],
        values=dict(memo.values) if capture else {},
        stages=[rec for sid, rec in records.stages.items() if sid not in memo]
        if thin and capture
        else [],
    )
