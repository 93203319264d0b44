"""The input stage: wait for a human's payload (``submit_input``), until its timeout."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy
from pipeline_engine._interpreter._records import Waiting
from pipeline_engine.dsl import InputPlan
from pipeline_engine.events import EventType
from pipeline_engine.states import StageState
from pipeline_engine.status import ErrorInfo, StageStatus

__all__ = ["InputStage"]


class InputStage:
    """The element of :class:`InputPlan` nodes."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    async def __call__(self, plan: InputPlan, previous: Any, policy: FailurePolicy) -> Any:
        """The payload received (or what ``on_failure`` makes of its timeout)."""
        rec = self._ctx.records.stages[plan.stage_id]
        held = self._ctx.records.held.pop(plan.stage_id, None)
        if held is not None:
            await policy.hold(rec, held)
        while True:
            waiting, timeout = self._open(plan, rec)
            if await self._wait(plan, rec, waiting, timeout):
                return waiting.payload
            error = ErrorInfo(
                type="InputTimeout",
                message=f"no input within {plan.timeout_s:g} s",
                stage_id=plan.stage_id,
            )
            rec.attempts += 1
            verdict = await policy.after_failure(rec, plan.on_failure, error, previous)
            if verdict is not RETRY:
                return verdict

    def _open(self, plan: InputPlan, rec: StageStatus) -> tuple[Waiting, float | None]:
        """Start waiting (or go on waiting since an earlier run); how long to wait."""
        records = self._ctx.records
        now = self._ctx.runtime.now()
        timeout = plan.timeout_s
        deadline: datetime | None
        if plan.stage_id in records.resume_wait:  # waiting since an earlier run
            deadline = records.resume_wait.pop(plan.stage_id)
            if deadline is not None:
                timeout = max((deadline - now).total_seconds(), 0.001)
        else:
            deadline = now + timedelta(seconds=plan.timeout_s) if plan.timeout_s else None
            rec.state = StageState.WAITING_INPUT
            rec.scheduled_at = now
            records.emit(
                EventType.PIPELINE_WAITING_INPUT,
                stage_id=plan.stage_id,
                prompt=plan.prompt,
                schema=plan.schema,
            )
        waiting = Waiting(plan, deadline)
        records.waiting[plan.stage_id] = waiting
        records.refresh_state()
        return waiting, timeout

    async def _wait(
        self, plan: InputPlan, rec: StageStatus, waiting: Waiting, timeout: float | None
    ) -> bool:
        """Whether the payload came before the deadline."""
        records = self._ctx.records
        try:
            received = await self._ctx.runtime.wait_condition(
                lambda: waiting.received,
                timeout=timeout,
                summary=f"waiting for input {plan.stage_id} — submit_input to answer",
            )
        except asyncio.CancelledError:
            records.waiting.pop(plan.stage_id, None)
            if rec.state is not StageState.SUCCEEDED:
                rec.state = StageState.CANCELLED
                records.emit(EventType.STAGE_CANCELLED, stage_id=plan.stage_id, step="input")
            raise
        if received or waiting.received:
            return True
        records.waiting.pop(plan.stage_id, None)
        return False
