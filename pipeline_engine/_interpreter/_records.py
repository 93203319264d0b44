"""A run's records: its stages, its event log and its state machine (read by
:mod:`~pipeline_engine._interpreter._reads`).

Every change to a stage's record or the pipeline's state goes through here, so the events and the
states the interpreter emits are written in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline_engine._interpreter._blocks import Blocks
from pipeline_engine._interpreter._handoff import EventSpan, HeldStage
from pipeline_engine._interpreter._runtime import Runtime
from pipeline_engine.dsl import InputPlan, MapPlan, StagePlan, StepPlan, SubPipelinePlan, SwitchPlan
from pipeline_engine.events import Event, EventType
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import ErrorInfo, StageStatus
from pipeline_engine.versions import PipelineVersionRef

__all__ = [
    "FAILED_AFTER_DRAIN_PATCH",
    "Identity",
    "Parked",
    "Records",
    "Waiting",
    "fingerprint",
    "record",
]

FAILED_AFTER_DRAIN_PATCH = "failed-after-fan-out-drains"
"""Patch id: a pipeline holds RUNNING while a stage beside the failed one still runs."""


@dataclass
class Parked:
    """A stage held in FAILED in this run, waiting for ``retry_stage`` until ``deadline``."""

    deadline: datetime | None
    retry_requested: bool = False


@dataclass
class Waiting:
    """An input stage waiting for a human's payload."""

    plan: InputPlan
    deadline: datetime | None
    received: bool = False
    payload: Any = None


def record(plan: StagePlan) -> StageStatus:
    """The status record of a stage, before it runs."""
    if isinstance(plan, StepPlan):
        return StageStatus(stage_id=plan.stage_id, step=plan.step, kind="step")
    if isinstance(plan, SubPipelinePlan):
        return StageStatus(stage_id=plan.stage_id, step=plan.name, kind="pipeline")
    kinds = {InputPlan: "input", MapPlan: "map", SwitchPlan: "switch"}
    kind = kinds[type(plan)]
    return StageStatus(stage_id=plan.stage_id, step=kind, kind=kind)


def fingerprint(*parts: Any) -> str:
    """Canonical JSON of ``parts`` (its length is a value's size in a payload)."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Identity:
    """What names a run in its events and status answers."""

    pipeline_id: str
    tenant_id: str | None
    name: str
    trace_id: str
    inline_bytes: int | None
    """Stage and pipeline results larger than this (bytes of JSON) are left out of answers."""
    ref: PipelineVersionRef | None = None
    """The stored pipeline version the run came from (``None``: a raw config)."""


class Records:
    """The stages, events and state of one run (attributes are read and written by its parts)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        pipeline_id: str,
        tenant_id: str | None,
        name: str,
        trace_id: str,
        stages: dict[str, StageStatus],
        inline_bytes: int | None,
        ref: PipelineVersionRef | None = None,
    ) -> None:
        self._rt = runtime
        self.identity = Identity(pipeline_id, tenant_id, name, trace_id, inline_bytes, ref)
        self.events: list[Event] = []
        self.next_id = 1
        """The id of the next event (a thin parent numbers its shards' events too)."""
        self.spans: list[EventSpan] = []
        """Events numbered here but kept by shards (see ``_blocks``)."""
        self.blocks = Blocks()
        self.stages = stages
        self.state = PipelineState.PENDING
        self.final: PipelineState | None = None
        self.started = False
        self.cancel_reason: str | None = None
        self.cancelled_by: str | None = None
        self.parked: dict[str, Parked] = {}
        self.waiting: dict[str, Waiting] = {}
        self.retried: set[str] = set()
        self.inputs_done: dict[str, str] = {}
        self.held: dict[str, HeldStage] = {}
        """Stages that failed for good elsewhere (an earlier run, a shard): held, not re-run."""
        self.resume_wait: dict[str, datetime | None] = {}
        self.result: Any = None
        self.result_bytes = 0
        self.error: ErrorInfo | None = None
        self.created_at = runtime.now()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None

    # ------------------------------------------------------------------ events & state
    def emit(self, kind: EventType, **payload: Any) -> None:
        """Append an event to the log (``None`` fields left out)."""
        self.next_id += 1
        self.events.append(
            Event(
                id=self.next_id - 1,
                type=kind.value,
                payload={k: v for k, v in payload.items() if v is not None},
                timestamp=self._rt.now(),
                trace_id=self.identity.trace_id,
            )
        )
        self._rt.notify()

    def add_event(self, event: Event, trace_id: str) -> None:
        """Append another run's event to the log, numbered here."""
        self.events.append(event.model_copy(update={"id": self.next_id, "trace_id": trace_id}))
        self.next_id += 1

    def add_span(self, span: EventSpan) -> None:
        """Number a shard's events (kept there) in the log."""
        if span.count:
            self.spans.append(span.model_copy(update={"first_id": self.next_id}))
            self.next_id += span.count

    def set_state(self, state: PipelineState) -> None:
        """Move the pipeline to ``state`` (the runtime hears of a change)."""
        if state is not self.state:
            self.state = state
            self._rt.state_changed(state)

    def refresh_state(self) -> None:
        """Derive the state of a started, unfinished pipeline from its held and waiting stages."""
        if self.final is not None or not self.started:
            return
        if self.held and self.state is PipelineState.FAILED:
            return  # a resumed walk is on its way to the held stage
        before = self.state
        if self.parked and not self._fan_out_running():
            state = PipelineState.FAILED
        elif any(not w.received for w in self.waiting.values()):
            state = PipelineState.WAITING_INPUT
        else:
            state = PipelineState.RUNNING
        self.set_state(state)
        if state is PipelineState.FAILED and before is not PipelineState.FAILED:
            self._emit_held()
        elif before is PipelineState.FAILED and state is not PipelineState.FAILED:
            self.emit(EventType.PIPELINE_RESUMED, state=state.value)

    def _emit_held(self) -> None:
        sid, parked = next(iter(self.parked.items()))
        err = self.stages[sid].error
        self.emit(
            EventType.PIPELINE_FAILED,
            state=self.state.value,
            stage_id=sid,
            error=err.model_dump() if err else None,
            retryable=True,
            retryable_until=parked.deadline.isoformat() if parked.deadline else None,
        )

    def _fan_out_running(self) -> bool:
        """Whether a stage still runs beside the failed one: the pipeline shows FAILED only once
        the failing fan-out has drained (new runs; histories recorded before keep their order)."""
        running = self.blocks.running() or any(
            s.state is StageState.RUNNING and s.kind != "map"  # a map runs while its items do
            for s in self.stages.values()
        )
        return running and self._rt.patched(FAILED_AFTER_DRAIN_PATCH)

    # ------------------------------------------------------------------ stage records
    def keep_result(self, rec: StageStatus, result: Any) -> None:
        """Keep a stage's result for status answers, unless it is too large to carry there."""
        limit = self.identity.inline_bytes
        small = limit is None or result is None or len(fingerprint(result)) <= limit
        rec.result = result if small else None
        rec.result_omitted = not small

    def scheduled(self, rec: StageStatus, attempt: int) -> None:
        """A stage's attempt ``attempt`` starts."""
        rec.state = StageState.RUNNING
        rec.scheduled_at = self._rt.now()
        rec.finished_at = None
        self.emit(EventType.STAGE_SCHEDULED, stage_id=rec.stage_id, step=rec.step, attempt=attempt)
        self.refresh_state()

    def succeed(self, rec: StageStatus, result: Any) -> None:
        """A stage succeeded with ``result``."""
        rec.state = StageState.SUCCEEDED
        self.keep_result(rec, result)
        rec.error = None
        rec.finished_at = self._rt.now()
        duration = (
            (rec.finished_at - rec.scheduled_at).total_seconds() if rec.scheduled_at else None
        )
        self.emit(
            EventType.STAGE_SUCCEEDED,
            stage_id=rec.stage_id,
            step=rec.step,
            attempt=rec.attempts,
            duration_s=duration,
        )
        self.refresh_state()

    def failed(self, rec: StageStatus, error: ErrorInfo, **extra: Any) -> None:
        """A stage failed with ``error`` (``extra``: more fields of the event)."""
        rec.state = StageState.FAILED
        rec.error = error
        rec.finished_at = self._rt.now()
        self.emit(
            EventType.STAGE_FAILED,
            stage_id=rec.stage_id,
            step=rec.step,
            attempt=rec.attempts,
            error=error.model_dump(),
            **extra,
        )

    def cancelled(self, rec: StageStatus) -> None:
        """A stage's run was cancelled."""
        rec.state = StageState.CANCELLED
        rec.finished_at = self._rt.now()
        self.emit(EventType.STAGE_CANCELLED, stage_id=rec.stage_id, step=rec.step)

    def skip_pending(self) -> None:
        """The pipeline ends: stages that never ran are skipped, nothing waits any more."""
        for rec in self.stages.values():
            if rec.state is StageState.PENDING:
                rec.state = StageState.SKIPPED
                self.emit(EventType.STAGE_SKIPPED, stage_id=rec.stage_id, step=rec.step)
        for rec in self.blocks.skip_unstarted():
            self.emit(EventType.STAGE_SKIPPED, stage_id=rec.stage_id, step=rec.step)
        self.waiting.clear()
        self.parked.clear()

    def end(self, state: PipelineState) -> None:
        """The pipeline has ended in ``state``."""
        self.final = state
        self.finished_at = self._rt.now()
        self.set_state(state)
        self._rt.notify()
