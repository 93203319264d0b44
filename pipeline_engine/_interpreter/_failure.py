"""The failure policy: what a stage that failed for good does once its own ``on_failure`` has had
its say, and how a fan-out's failed member ends.

One :class:`FailurePolicy` travels down the walk. At the top it may hold the pipeline in FAILED
(``failure_hold_s``) until ``retry_stage``; inside a member whose failure something else settles
(a fan-out with ``on_error: continue``, a shard) it may not, and the failure goes up instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._handoff import HeldStage, ShardFailure
from pipeline_engine._interpreter._records import Parked
from pipeline_engine._interpreter._runtime import StepFailed, utc_minute
from pipeline_engine.status import ErrorInfo, StageStatus

__all__ = ["FAILURE_MARKER", "RETRY", "FailurePolicy", "StageFailure"]

FAILURE_MARKER = "__failed__"


class StageFailure(Exception):
    """A stage failed for good and nothing absorbs it: the branch (and maybe the pipeline) fails.

    ``fatal``: a limit was reached; nothing may absorb, hold or retry it.
    """

    def __init__(self, stage_id: str, error: ErrorInfo, *, fatal: bool = False) -> None:
        super().__init__(error.message)
        self.stage_id = stage_id
        self.error = error
        self.fatal = fatal


class _Retry:
    """The verdict of a failure that a ``retry_stage`` resolved: run the stage again."""


RETRY: Any = _Retry()


@dataclass(frozen=True)
class FailurePolicy:
    """How failures end here (see the module docstring).

    Attributes:
        holds: A failed stage holds the pipeline in FAILED, waiting for ``retry_stage``.
        absorb: This fan-out's failed members end as failure markers (``on_error: continue``).
        captured: A shard's own fan-out: its failed members are listed here for the pipeline.
    """

    ctx: RunContext = field(repr=False, compare=False)
    holds: bool = False
    absorb: bool = False
    captured: list[ShardFailure] | None = None

    @classmethod
    def top(cls, ctx: RunContext) -> FailurePolicy:
        """The policy of a pipeline's walk: it holds failures when the config says so."""
        return cls(ctx, holds=ctx.hold_s > 0)

    def fan_out(self, *, absorb: bool) -> FailurePolicy:
        """The policy of a fan-out written here (a group, a chord's group, a map)."""
        return FailurePolicy(self.ctx, holds=self.holds, absorb=absorb)

    def members(self) -> FailurePolicy:
        """The policy inside a member of this fan-out: it holds nothing that is settled here."""
        settled = self.absorb or self.captured is not None
        return FailurePolicy(self.ctx, holds=self.holds and not settled)

    @property
    def fails_fast(self) -> bool:
        """A failed member ends the whole fan-out at once (a shard's cancels the others)."""
        return not self.absorb and self.captured is None and not self.holds

    def captures(self, member: str, failure: StageFailure) -> bool:
        """List ``failure`` of ``member`` (a shard's) for the pipeline; False if not a shard."""
        if self.captured is None:
            return False
        self.captured.append(
            ShardFailure(
                member=member, stage_id=failure.stage_id, error=failure.error, fatal=failure.fatal
            )
        )
        return True

    def absorbed(self, failure: StageFailure) -> dict[str, Any]:
        """A failed member's result: its failure marker; re-raises what may not be absorbed."""
        if not self.absorb or failure.fatal:
            raise failure
        return {
            FAILURE_MARKER: True,
            "stage_id": failure.stage_id,
            "error": failure.error.model_dump(),
        }

    async def after_failure(
        self, rec: StageStatus, on_failure: str, error: ErrorInfo, previous: Any
    ) -> Any:
        """Apply ``on_failure``: a value to use as the stage's result, or :data:`RETRY`."""
        records = self.ctx.records
        records.failed(rec, error, on_failure=on_failure)
        if on_failure == "continue":
            records.refresh_state()
            return None
        if on_failure != "fail":
            handled, value = await self._run_handler(rec, on_failure, error, previous)
            if handled:
                return value
        if not self.holds:
            records.refresh_state()
            raise StageFailure(rec.stage_id, error)
        return await self._park(rec, error)

    async def ends_pipeline(self, rec: StageStatus, error: ErrorInfo, previous: Any) -> None:
        """A limit was reached: the stage fails as ``fail`` would, held by nothing (raises)."""
        await replace(self, holds=False).after_failure(rec, "fail", error, previous)

    async def hold(self, rec: StageStatus, held: HeldStage) -> None:
        """Hold a stage that failed for good elsewhere (a shard, an earlier run) as if it had
        failed here; return when a retry is asked for, raise if none comes."""
        if not self.holds:
            self.ctx.records.refresh_state()
            raise StageFailure(rec.stage_id, held.error)
        await self._park(rec, held.error, deadline=held.deadline)

    async def _park(
        self, rec: StageStatus, error: ErrorInfo, *, deadline: datetime | None = None
    ) -> Any:
        rt, hold = self.ctx.runtime, self.ctx.hold_s
        wait: float = hold
        if deadline is not None:  # held since an earlier run
            wait = max((deadline - rt.now()).total_seconds(), 0.001)
        parked = Parked(deadline or rt.now() + timedelta(seconds=hold))
        self.ctx.records.parked[rec.stage_id] = parked
        self.ctx.records.refresh_state()
        shown = utc_minute(parked.deadline) if parked.deadline else ""
        retried = await rt.wait_condition(
            lambda: parked.retry_requested,
            timeout=wait,
            summary=f"held in FAILED until {shown} — retry_stage to resume",
        )
        if retried or parked.retry_requested:
            return RETRY
        raise StageFailure(
            rec.stage_id,
            error.model_copy(
                update={"message": f"{error.message} (not retried within {hold:g} s)"}
            ),
        )

    async def _run_handler(
        self, rec: StageStatus, handler: str, error: ErrorInfo, previous: Any
    ) -> tuple[bool, Any]:
        ctx, hid = self.ctx, f"{rec.stage_id}.on_failure"
        hrec = ctx.records.stages.get(hid)
        if hrec is None:
            hrec = ctx.records.stages[hid] = StageStatus(stage_id=hid, step=handler, kind="handler")
        plan = ctx.hook_plan(hid, handler)
        info = {
            "stage_id": rec.stage_id,
            "step": rec.step,
            "error": error.model_dump(),
            "previous": previous,
        }
        try:
            outcome = await ctx.attempt(hrec, ctx.step_call(plan, info, hrec.attempts))
        except StepFailed as failed:
            hrec.attempts += failed.attempts
            ctx.records.failed(hrec, failed.error.model_copy(update={"stage_id": hid}))
            return False, None
        hrec.attempts += outcome.attempts
        ctx.records.succeed(hrec, outcome.result)
        return True, outcome.result
