"""What every part of a run shares: what the run was given, its records and memo, and the one
way to run a stage's attempt (paused while the run moves, counted while it runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipeline_engine._interpreter._gate import NO_GATE, Gate, Slot
from pipeline_engine._interpreter._memo import Memo
from pipeline_engine._interpreter._records import Records
from pipeline_engine._interpreter._runtime import Runtime, StepCall, StepOutcome
from pipeline_engine.dsl import Plan, StepPlan, merge_retry
from pipeline_engine.dsl._nodes import DEFAULT_HEARTBEAT_TIMEOUT_S, DEFAULT_STEP_TIMEOUT_S
from pipeline_engine.status import StageStatus

__all__ = ["RunContext", "step_limits"]


def step_limits(plan: Plan) -> dict[str, Gate]:
    """A gate per step with a ``max_concurrency`` (the smallest one written for it)."""
    caps: dict[str, int] = {}
    for s in (*plan.stages, *plan.templates):
        if isinstance(s, StepPlan) and s.max_concurrency:
            caps[s.step] = min(caps.get(s.step, s.max_concurrency), s.max_concurrency)
    return {step: Gate(cap) for step, cap in caps.items()}


@dataclass
class RunContext:
    """One run's shared parts (see the module docstring)."""

    plan: Plan
    runtime: Runtime
    records: Records
    pipeline_id: str
    tenant_id: str | None
    input: Any
    settings: dict[str, Any]
    trace_id: str
    window: int | None
    """``max_in_flight``: steps running at once in this run, and members started at once."""
    memo: Memo = field(default_factory=Memo)
    scopes: dict[str, tuple[Any, int]] = field(default_factory=dict)
    """A map run's stage-id suffix (``[3]``) -> (its item, its index): what its expressions see."""
    paused: bool = False
    running: int = 0
    limits: dict[str, Gate] = field(init=False)
    in_flight: Slot = field(init=False)

    def __post_init__(self) -> None:
        self.limits = step_limits(self.plan)
        self.in_flight = Gate(self.window) if self.window else NO_GATE

    @property
    def hold_s(self) -> float:
        """How long a stage that failed for good holds the pipeline in FAILED (``<= 0``: never)."""
        return self.plan.config.failure_hold_s

    def limit(self, step: str) -> Slot:
        """The gate of ``step``'s ``max_concurrency`` (one that never waits when it has none)."""
        return self.limits.get(step, NO_GATE)

    def step_call(self, plan: StepPlan, previous: Any, attempt_offset: int) -> StepCall:
        """The call that runs ``plan`` on ``previous``."""
        return StepCall(
            pipeline_id=self.pipeline_id,
            tenant_id=self.tenant_id,
            stage_id=plan.stage_id,
            step=plan.step,
            kwargs=plan.kwargs,
            previous=previous,
            input=self.input,
            settings=self.settings,
            trace_id=self.trace_id,
            attempt_offset=attempt_offset,
            retry=plan.retry,
            timeout_s=plan.timeout_s,
            heartbeat_timeout_s=plan.heartbeat_timeout_s,
            task_queue=plan.task_queue,
            local=plan.local,
        )

    def hook_plan(self, stage_id: str, step: str) -> StepPlan:
        """A hook or ``on_failure`` handler as a stage, with the config's defaults."""
        d = self.plan.config.defaults
        return StepPlan(
            stage_id=stage_id,
            step=step,
            kwargs={},
            retry=merge_retry(d.retry),
            timeout_s=d.timeout_s or DEFAULT_STEP_TIMEOUT_S,
            heartbeat_timeout_s=d.heartbeat_timeout_s or DEFAULT_HEARTBEAT_TIMEOUT_S,
            on_failure="continue",
            task_queue=d.task_queue,
            max_concurrency=None,
            path=f"$.hooks.{stage_id}",
        )

    async def unpaused(self) -> None:
        """Return once the run may start work (at once unless :attr:`paused`)."""
        if self.paused:
            await self.runtime.wait_condition(lambda: not self.paused, timeout=None)

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count the work inside (a step or a shard) as running: the run is not idle."""
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self.runtime.notify()

    async def attempt(self, rec: StageStatus, call: StepCall) -> StepOutcome:
        """Run ``call`` for the stage of ``rec``, its record kept (raises ``StepFailed``)."""
        await self.unpaused()
        self.records.scheduled(rec, rec.attempts + 1)
        try:
            with self.counted():
                return await self.runtime.run_step(call)
        except asyncio.CancelledError:
            self.records.cancelled(rec)
            raise
