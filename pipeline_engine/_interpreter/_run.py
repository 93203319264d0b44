"""One pipeline run: the tree walk, its state machine, its event log and its commands.

Written once against :class:`Runtime`, so the Temporal workflow and the in-memory fake engine share
every rule: data flow, fan-out and joins, failure handling, input, retry, cancellation and events.
Everything here must stay deterministic: time comes from the runtime, no I/O, no randomness.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from jsonschema import validators

from pipeline_engine._interpreter._gate import Gate
from pipeline_engine._interpreter._handoff import (
    HeldStage,
    RunSnapshot,
    ShardCall,
    ShardFailure,
    ShardProgress,
    ShardResult,
)
from pipeline_engine._interpreter._pointer import resolve_items
from pipeline_engine._interpreter._runtime import Runtime, StepCall, StepFailed, utc_minute
from pipeline_engine.dsl import (
    ChainPlan,
    ChordPlan,
    DagPlan,
    GroupPlan,
    InputPlan,
    MapPlan,
    Node,
    Plan,
    StepPlan,
    merge_retry,
)
from pipeline_engine.dsl._plan import DEFAULT_HEARTBEAT_TIMEOUT_S, DEFAULT_STEP_TIMEOUT_S
from pipeline_engine.dsl._plan_wire import node_from_wire, node_to_wire
from pipeline_engine.errors import (
    InvalidInput,
    InvalidState,
    PipelineError,
    Problem,
    StageNotFound,
)
from pipeline_engine.events import Event, EventType
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import (
    ErrorInfo,
    PendingInput,
    PipelineStatus,
    StagePage,
    StageStatus,
    page_stages,
)

__all__ = ["FAILURE_MARKER", "PipelineRun"]

FAILURE_MARKER = "__failed__"
FAILED_AFTER_DRAIN_PATCH = "failed-after-fan-out-drains"
"""Patch id: a pipeline holds RUNNING while a stage beside the failed one still runs."""
T = TypeVar("T")


class _StageFailure(Exception):
    """A stage failed for good and nothing absorbs it: the branch (and maybe the pipeline) fails."""

    def __init__(self, stage_id: str, error: ErrorInfo, *, fatal: bool = False) -> None:
        super().__init__(error.message)
        self.stage_id = stage_id
        self.error = error
        self.fatal = fatal


@dataclass
class _Parked:
    deadline: datetime | None
    retry_requested: bool = False


@dataclass
class _Waiting:
    plan: InputPlan
    deadline: datetime | None
    received: bool = False
    payload: Any = None


def _record(plan: StepPlan | InputPlan | MapPlan) -> StageStatus:
    """The status record of a stage, before it runs."""
    if isinstance(plan, StepPlan):
        return StageStatus(stage_id=plan.stage_id, step=plan.step, kind="step")
    kind = "input" if isinstance(plan, InputPlan) else "map"
    return StageStatus(stage_id=plan.stage_id, step=kind, kind=kind)


def _fingerprint(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)


def _first_stage(node: Node) -> str:
    """The id of the first stage of a tree node (every node holds at least one)."""
    while True:
        if isinstance(node, StepPlan | InputPlan | MapPlan):
            return node.stage_id
        if isinstance(node, ChordPlan):
            node = node.group
        elif isinstance(node, ChainPlan | GroupPlan) and node.children:
            node = node.children[0]
        else:
            return node.path


def _member_key(node: Node) -> str:
    """Key of a fan-out member's result among the run's values: unique in a pipeline (paths differ
    between nesting levels, first stage ids between runs of a map)."""
    return f"{node.path}|{_first_stage(node)}"


def _json_path(path: Any) -> str:
    out = "$.payload"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class PipelineRun:
    """The interpreter of one pipeline: call :meth:`run`, drive it with the command methods."""

    def __init__(
        self,
        *,
        plan: Plan,
        pipeline_id: str,
        tenant_id: str | None,
        input: Any,
        settings: dict[str, Any],
        trace_id: str,
        runtime: Runtime,
        max_in_flight: int | None = None,
        max_result_bytes: int | None = None,
        inline_result_bytes: int | None = None,
        resume: RunSnapshot | None = None,
        shard: bool = False,
    ) -> None:
        """Args beyond the pipeline's own: ``max_in_flight`` caps the steps running at once in
        this run, whatever the config says (Temporal allows 2,000 pending activities per
        workflow); ``max_result_bytes`` fails a pipeline whose result would not fit in the
        workflow's result payload (``ResultTooLarge``) instead of letting it loop;
        ``inline_result_bytes`` leaves larger results out of status answers (``result_omitted``);
        ``resume`` goes on from a run's :meth:`snapshot`; ``shard`` runs a slice of a fan-out
        (:meth:`run_shard`) whose stages and events are reported to the pipeline
        (:meth:`progress`)."""
        self._inline_bytes = inline_result_bytes
        self._plan = plan
        self._max_result_bytes = max_result_bytes
        self._in_flight = Gate(max_in_flight) if max_in_flight else None
        self._window = max_in_flight
        self._config = plan.config
        self._pipeline_id = pipeline_id
        self._tenant_id = tenant_id
        self._input = input
        self._settings = settings
        self._trace_id = trace_id
        self._rt = runtime
        self._events: list[Event] = []
        self._stages: dict[str, StageStatus] = {s.stage_id: _record(s) for s in plan.stages}
        self._state = PipelineState.PENDING
        self._final: PipelineState | None = None
        self._started = False
        self._cancel_reason: str | None = None
        self._cancelled_by: str | None = None
        self._parked: dict[str, _Parked] = {}
        self._waiting: dict[str, _Waiting] = {}
        self._retried: set[str] = set()
        self._inputs_done: dict[str, str] = {}
        self._root: asyncio.Task[Any] | None = None
        self._result: Any = None
        self._result_bytes = 0
        self._error: ErrorInfo | None = None
        self._created_at = runtime.now()
        self._started_at: datetime | None = None
        self._finished_at: datetime | None = None
        caps: dict[str, int] = {}
        for s in (*plan.stages, *plan.templates):
            if isinstance(s, StepPlan) and s.max_concurrency:
                caps[s.step] = min(caps.get(s.step, s.max_concurrency), s.max_concurrency)
        self._limits = {step: Gate(cap) for step, cap in caps.items()}
        self._values: dict[str, Any] = {}
        """What each stage (by id) and each fan-out member (by :func:`_member_key`) produced in
        the walk: a resumed walk returns these instead of running them again."""
        self._held: dict[str, HeldStage] = {}
        """Stages that failed for good elsewhere (an earlier run, a shard): held, not re-run."""
        self._resume_wait: dict[str, datetime | None] = {}
        self._paused = False
        self._running = 0
        self._runs = 1
        self._shard = shard
        self._reported = 0  # events already reported (a shard's progress)
        self._everything_reported = False
        self._resumed_started = False
        if resume is not None:
            self._restore(resume)
        elif not shard:
            self._emit(
                EventType.PIPELINE_CREATED,
                name=self._config.name,
                tenant_id=tenant_id,
                state=PipelineState.PENDING.value,
            )

    # ------------------------------------------------------------------ continue-as-new
    def snapshot(self) -> RunSnapshot:
        """The run's whole state, for :class:`PipelineRun` ``(resume=...)`` in a new run; take it
        while :attr:`idle` (no step running)."""
        return RunSnapshot(
            events=list(self._events),
            stages=list(self._stages.values()),
            values=dict(self._values),
            state=self._state,
            created_at=self._created_at,
            started_at=self._started_at,
            held={
                sid: HeldStage(
                    error=self._stages[sid].error or ErrorInfo(type="", message=""),
                    deadline=p.deadline,
                )
                for sid, p in self._parked.items()
            }
            | self._held,
            waiting={sid: w.deadline for sid, w in self._waiting.items() if not w.received}
            | self._resume_wait,
            retried=sorted(self._retried),
            inputs_done=dict(self._inputs_done),
            runs=self._runs + 1,
        )

    def _restore(self, snap: RunSnapshot) -> None:
        self._events = list(snap.events)
        self._stages.update((s.stage_id, s) for s in snap.stages)
        self._values = dict(snap.values)
        self._state = snap.state
        self._created_at = snap.created_at
        self._started_at = snap.started_at
        self._started = snap.started_at is not None
        self._held = dict(snap.held)
        self._resume_wait = dict(snap.waiting)
        self._retried = set(snap.retried)
        self._inputs_done = dict(snap.inputs_done)
        self._runs = snap.runs
        self._resumed_started = self._started

    @property
    def runs(self) -> int:
        """Workflow runs this pipeline has had, this one included."""
        return self._runs

    @property
    def size(self) -> int:
        """Events in the log plus stages: what a :meth:`snapshot` carries, roughly."""
        return len(self._events) + len(self._stages)

    @property
    def idle(self) -> bool:
        """No step (nor shard) is running: the run can be snapshot."""
        return self._running == 0

    def pause(self) -> None:
        """Start nothing more (steps wait) until the run is continued elsewhere."""
        self._paused = True

    def unpause(self) -> None:
        """Start steps again (the run was not continued after all)."""
        self._paused = False
        self._rt.notify()

    # ------------------------------------------------------------------ read side
    @property
    def state(self) -> PipelineState:
        """Current pipeline state."""
        return self._state

    def status(
        self, page: StagePage | None = None, *, whole_result: bool = False
    ) -> PipelineStatus:
        """The whole picture: state, a page of the stages (all without ``page``), pending inputs,
        result (left out when large, unless ``whole_result``), error."""
        omit = (
            not whole_result
            and self._inline_bytes is not None
            and self._result_bytes > self._inline_bytes
        )
        deadlines = [p.deadline for p in self._parked.values() if p.deadline is not None]
        stages, counts, total = page_stages(self._stages.values(), page)
        return PipelineStatus(
            pipeline_id=self._pipeline_id,
            name=self._config.name,
            tenant_id=self._tenant_id,
            state=self._state,
            stages=[s.model_copy() for s in stages],
            stage_counts=counts,
            stages_total=total,
            stages_offset=page.offset if page else 0,
            waiting_inputs=[
                PendingInput(
                    stage_id=w.plan.stage_id,
                    prompt=w.plan.prompt,
                    schema=w.plan.schema,
                    deadline=w.deadline,
                )
                for w in self._waiting.values()
                if not w.received
            ],
            result=None if omit else self._result,
            result_omitted=omit,
            error=self._error or self._held_error(),
            created_at=self._created_at,
            started_at=self._started_at,
            finished_at=self._finished_at,
            retryable_until=min(deadlines) if deadlines else None,
            cancelled_by=self._cancelled_by,
            trace_id=self._trace_id,
        )

    def _held_error(self) -> ErrorInfo | None:
        """While held in FAILED: the error of the first stage waiting for a retry."""
        held = next(iter(self._parked), None)
        return self._stages[held].error if held is not None else None

    def final_status(self, *, max_bytes: int) -> PipelineStatus:
        """The status to leave as the workflow's result: whole when its JSON fits ``max_bytes``,
        else without the stages (readers then page them with the ``status`` query)."""
        whole = self.status(whole_result=True)
        if len(whole.model_dump_json()) <= max_bytes:
            return whole
        return self.status(StagePage(limit=0), whole_result=True)

    def history(
        self,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events in order; ``since``: at or after a time; ``after_id``: after an event id;
        ``limit``: at most this many (page on with the last id as ``after_id``)."""
        events = self._events
        if after_id is not None:
            events = events[max(after_id, 0) :]
        if since is not None:
            events = [e for e in events if e.timestamp >= since]
        return list(events if limit is None else events[:limit])

    # ------------------------------------------------------------------ commands
    def start(self, *, actor: str | None = None) -> PipelineState:
        """Start a PENDING pipeline; a repeat returns the current state."""
        if not self._started and self._cancel_reason is None and self._final is None:
            self._started = True
            self._started_at = self._rt.now()
            self._set_state(PipelineState.RUNNING)
            self._emit(EventType.PIPELINE_STARTED, state=self._state.value, actor=actor)
            self._rt.notify()
        return self._state

    def _input_target(self, stage_id: str | None) -> _Waiting | None:
        open_ = {k: w for k, w in self._waiting.items() if not w.received}
        if stage_id is not None:
            if stage_id not in self._stages:
                raise StageNotFound(f"pipeline has no stage {stage_id!r}")
            return open_.get(stage_id)
        if len(open_) > 1:
            raise InvalidInput(
                "several inputs are waiting; name one with stage_id",
                problems=[Problem("$.stage_id", "one of: " + ", ".join(open_))],
            )
        return next(iter(open_.values()), None)

    def validate_submit_input(
        self, payload: Any, responder: str | None, stage_id: str | None
    ) -> None:
        """Raise if ``submit_input`` would not apply (nothing is written when it raises)."""
        target = self._input_target(stage_id)
        if target is None:
            if _fingerprint(stage_id, payload, responder) in self._inputs_done.values() or (
                stage_id is None and _fingerprint(None, payload, responder) in self._inputs_done
            ):
                return  # a repeat of an input already applied
            raise InvalidState(
                f"pipeline is {self._state.value}; no input is waiting"
                + (f" at stage {stage_id!r}" if stage_id else "")
            )
        schema = target.plan.schema
        validator = validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if errors:
            raise InvalidInput(
                f"payload does not match the schema of input {target.plan.stage_id!r}",
                problems=[Problem(_json_path(e.absolute_path), e.message) for e in errors],
            )

    def submit_input(
        self,
        payload: Any,
        responder: str | None,
        stage_id: str | None = None,
        *,
        actor: str | None = None,
    ) -> PipelineState:
        """Deliver a human's payload to the waiting input element.

        The responder recorded is ``actor`` (who sent it) when known; ``responder`` then only
        adds a display name.
        """
        self.validate_submit_input(payload, responder, stage_id)
        target = self._input_target(stage_id)
        if target is None:
            return self._state
        sid = target.plan.stage_id
        target.received = True
        target.payload = payload
        rec = self._stages[sid]
        rec.state = StageState.SUCCEEDED
        self._keep_result(rec, payload)
        rec.error = None
        rec.attempts += 1
        rec.finished_at = self._rt.now()
        rec.actor = actor or responder
        self._inputs_done[_fingerprint(None, payload, responder)] = _fingerprint(
            sid, payload, responder
        )
        self._emit(
            EventType.PIPELINE_INPUT_RECEIVED,
            stage_id=sid,
            responder=rec.actor,
            display_name=responder if actor and responder != actor else None,
        )
        self._emit(EventType.STAGE_SUCCEEDED, stage_id=sid, step="input", attempt=rec.attempts)
        del self._waiting[sid]
        self._refresh_state()
        self._rt.notify()
        return self._state

    def validate_retry_stage(self, stage_id: str, reason: str) -> None:
        """Raise if ``retry_stage`` would not apply (nothing is written when it raises)."""
        if stage_id not in self._stages:
            raise StageNotFound(f"pipeline has no stage {stage_id!r}")
        if stage_id in self._parked or stage_id in self._retried or stage_id in self._held:
            return
        rec = self._stages[stage_id]
        if self._final is not None:
            raise InvalidState(f"pipeline is {self._final.value}; it can no longer be retried")
        raise InvalidState(
            f"stage {stage_id!r} is {rec.state.value}; only a stage that failed for good "
            "(pipeline FAILED) can be retried"
        )

    def retry_stage(self, stage_id: str, reason: str, *, actor: str | None = None) -> PipelineState:
        """Re-run a stage that failed for good; what already succeeded never runs again."""
        self.validate_retry_stage(stage_id, reason)
        parked = self._parked.pop(stage_id, None)
        if parked is None and self._held.pop(stage_id, None) is None:
            return self._state  # repeat of a retry already applied
        if parked is not None:
            parked.retry_requested = True
        self._retried.add(stage_id)
        rec = self._stages[stage_id]
        rec.state = StageState.PENDING
        rec.actor = actor
        self._emit(
            EventType.STAGE_RETRY_REQUESTED,
            stage_id=stage_id,
            step=rec.step,
            attempt=rec.attempts,
            reason=reason,
            actor=actor,
        )
        self._refresh_state()
        self._rt.notify()
        return self._state

    def request_cancel(self, reason: str, *, actor: str | None = None) -> PipelineState:
        """Ask the pipeline to stop: in-flight stages are cancelled and ``on_cancel`` runs."""
        if self._final is not None or self._cancel_reason is not None:
            return self._state
        self._cancel_reason = reason or "cancelled"
        self._cancelled_by = actor
        self._emit(EventType.PIPELINE_CANCEL_REQUESTED, reason=self._cancel_reason, actor=actor)
        if self._root is not None and not self._root.done():
            self._root.cancel()
        self._rt.notify()
        return self._state

    async def cancel(self, reason: str, *, actor: str | None = None) -> PipelineState:
        """Cancel and wait until the pipeline has ended."""
        self.request_cancel(reason, actor=actor)
        await self._rt.wait_condition(lambda: self._final is not None, timeout=None)
        return self._state

    def record_rejection(self, command: str, error: PipelineError) -> None:
        """Log a command that was refused (a signal cannot answer its sender); nothing changes."""
        self._emit(
            EventType.SIGNAL_REJECTED, signal=command, error=error.code, reason=error.message
        )

    # ------------------------------------------------------------------ main
    async def run(self) -> PipelineState:
        """Run the pipeline to its end; its final state.

        Re-raises ``CancelledError`` after a native cancellation.
        """
        try:
            resumed = self._resumed_started  # an earlier run started it (and ran on_start)
            await self._rt.wait_condition(
                lambda: self._started or self._cancel_reason is not None, timeout=None
            )
            if self._cancel_reason is not None:
                await self._finish_cancelled(run_hook=False)
                return self._state
            if not resumed:
                await self._run_hook("on_start", None)
            if self._cancel_reason is not None:
                await self._finish_cancelled(run_hook=True)
                return self._state
            self._root = asyncio.create_task(self._node(self._plan.root, self._initial_previous()))
            if self._config.timeout_s is not None:
                timeout = self._config.timeout_s
                if resumed and self._started_at is not None:
                    elapsed = (self._rt.now() - self._started_at).total_seconds()
                    timeout = max(timeout - elapsed, 0.001)
                result = await asyncio.wait_for(self._root, timeout)
            else:
                result = await self._root
        except asyncio.CancelledError:
            native = self._cancel_reason is None
            if native:
                self._cancel_reason = "cancelled through Temporal"
                self._emit(EventType.PIPELINE_CANCEL_REQUESTED, reason=self._cancel_reason)
            await self._finish_cancelled(run_hook=self._started)
            if native:
                raise
            return self._state
        except TimeoutError:
            if self._cancel_reason is not None:
                await self._finish_cancelled(run_hook=True)
                return self._state
            await self._finish_failed(
                ErrorInfo(
                    type="PipelineTimeout",
                    message=f"pipeline did not finish within {self._config.timeout_s:g} s",
                )
            )
            return self._state
        except _StageFailure as failure:
            await self._finish_failed(failure.error)
            return self._state
        await self._finish_succeeded(result)
        return self._state

    def _initial_previous(self) -> Any:
        return {} if isinstance(self._plan.root, DagPlan) else None

    # ------------------------------------------------------------------ endings
    def _skip_pending(self) -> None:
        for rec in self._stages.values():
            if rec.state is StageState.PENDING:
                rec.state = StageState.SKIPPED
                self._emit(EventType.STAGE_SKIPPED, stage_id=rec.stage_id, step=rec.step)
        self._waiting.clear()
        self._parked.clear()

    def _end(self, state: PipelineState) -> None:
        self._final = state
        self._finished_at = self._rt.now()
        self._set_state(state)
        self._rt.notify()

    async def _finish_succeeded(self, result: Any) -> None:
        self._result_bytes = len(_fingerprint(result))
        too_large = self._result_too_large()
        if too_large is not None:
            self._result_bytes = 0
            await self._finish_failed(too_large)
            return
        self._result = result
        await self._run_hook("on_success", {"state": "SUCCEEDED", "result": result})
        self._skip_pending()
        self._end(PipelineState.SUCCEEDED)
        self._emit(EventType.PIPELINE_SUCCEEDED, state=self._state.value)

    def _result_too_large(self) -> ErrorInfo | None:
        size = self._result_bytes
        if self._max_result_bytes is None or size <= self._max_result_bytes:
            return None
        return ErrorInfo(
            type="ResultTooLarge",
            message=f"the pipeline's result is {size} bytes of JSON, over the limit of "
            f"{self._max_result_bytes} bytes; return a smaller result (e.g. a reference to "
            "stored data) from the last stage",
        )

    async def _finish_failed(self, error: ErrorInfo) -> None:
        self._error = error
        self._parked.clear()
        await self._run_hook("on_failure", {"state": "FAILED", "error": error.model_dump()})
        self._skip_pending()
        self._end(PipelineState.FAILED)
        self._emit(
            EventType.PIPELINE_FAILED,
            state=self._state.value,
            stage_id=error.stage_id,
            error=error.model_dump(),
            retryable=False,
        )

    async def _finish_cancelled(self, *, run_hook: bool) -> None:
        if self._root is not None and not self._root.done():
            self._root.cancel()
            await asyncio.gather(self._root, return_exceptions=True)
        if run_hook:
            await self._run_hook("on_cancel", {"state": "CANCELLED", "reason": self._cancel_reason})
        self._skip_pending()
        self._end(PipelineState.CANCELLED)
        self._emit(
            EventType.PIPELINE_CANCELLED, state=self._state.value, reason=self._cancel_reason
        )

    # ------------------------------------------------------------------ state & events
    def _emit(self, kind: EventType, **payload: Any) -> None:
        self._events.append(
            Event(
                id=len(self._events) + 1,
                type=kind.value,
                payload={k: v for k, v in payload.items() if v is not None},
                timestamp=self._rt.now(),
                trace_id=self._trace_id,
            )
        )
        self._rt.notify()

    def _set_state(self, state: PipelineState) -> None:
        if state is not self._state:
            self._state = state
            self._rt.state_changed(state)

    def _refresh_state(self) -> None:
        if self._final is not None or not self._started:
            return
        if self._held and self._state is PipelineState.FAILED:
            return  # a resumed walk is on its way to the held stage
        before = self._state
        if self._parked and not self._fan_out_running():
            state = PipelineState.FAILED
        elif any(not w.received for w in self._waiting.values()):
            state = PipelineState.WAITING_INPUT
        else:
            state = PipelineState.RUNNING
        self._set_state(state)
        if state is PipelineState.FAILED and before is not PipelineState.FAILED:
            sid, parked = next(iter(self._parked.items()))
            err = self._stages[sid].error
            self._emit(
                EventType.PIPELINE_FAILED,
                state=state.value,
                stage_id=sid,
                error=err.model_dump() if err else None,
                retryable=True,
                retryable_until=parked.deadline.isoformat() if parked.deadline else None,
            )
        elif before is PipelineState.FAILED and state is not PipelineState.FAILED:
            self._emit(EventType.PIPELINE_RESUMED, state=state.value)

    def _fan_out_running(self) -> bool:
        """Whether a stage still runs beside the failed one: the pipeline shows FAILED only once
        the failing fan-out has drained (new runs; histories recorded before keep their order)."""
        running = any(
            s.state is StageState.RUNNING and s.kind != "map"  # a map runs while its items do
            for s in self._stages.values()
        )
        return running and self._rt.patched(FAILED_AFTER_DRAIN_PATCH)

    # ------------------------------------------------------------------ tree walk
    async def _node(self, node: Node, previous: Any, soft: bool = False) -> Any:
        if isinstance(node, StepPlan):
            return await self._step_stage(node, previous, soft)
        if isinstance(node, InputPlan):
            return await self._input_stage(node, previous, soft)
        if isinstance(node, ChainPlan):
            value = previous
            for child in node.children:
                value = await self._node(child, value, soft)
            return value
        if isinstance(node, GroupPlan):
            return await self._group(node, previous, soft, absorb=False)
        if isinstance(node, MapPlan):
            return await self._map(node, previous, soft)
        if isinstance(node, ChordPlan):
            results = await self._group(
                node.group, previous, soft, absorb=node.on_error == "continue"
            )
            if node.callback is None:
                return results
            return await self._step_stage(node.callback, results, soft)
        return await self._dag(node, soft)

    async def _group(
        self, node: GroupPlan, previous: Any, soft: bool, *, absorb: bool
    ) -> list[Any]:
        if self._shardable(len(node.children), node.children):
            fan = _FanOut(members=node.children, previous=previous)
            return await self._sharded(fan, node.max_concurrency, soft, absorb=absorb)
        runs = [(child, previous) for child in node.children]
        return await self._fan_out(runs, node.max_concurrency, soft, absorb=absorb)

    async def _fan_out(
        self,
        runs: list[tuple[Node, Any]],
        cap: int | None,
        soft: bool,
        *,
        absorb: bool,
        failures: list[ShardFailure] | None = None,
    ) -> list[Any]:
        """Run each (node, previous) at once (at most ``cap`` at a time): the ordered results.

        Bounded runs start no more than ``max_in_flight`` members at a time (in order), so a fan-out
        of any width costs the workflow a bounded amount of work per activation. With
        ``failures``, a member that fails for good is listed there (its result ``None``).
        """
        window = min(cap or self._window, self._window) if self._window else None
        if window is not None and len(runs) > window:
            return await self._windowed(runs, window, soft, absorb=absorb, failures=failures)
        gate = Gate(cap) if cap else None

        async def member(child: Node, previous: Any) -> Any:
            if gate is None:
                return await self._member(child, previous, soft, absorb=absorb, failures=failures)
            return await gate.run(
                lambda: self._member(child, previous, soft, absorb=absorb, failures=failures)
            )

        return await _all([member(child, previous) for child, previous in runs])

    async def _windowed(
        self,
        runs: list[tuple[Node, Any]],
        window: int,
        soft: bool,
        *,
        absorb: bool,
        failures: list[ShardFailure] | None,
    ) -> list[Any]:
        results: list[Any] = [None] * len(runs)
        indexes = iter(range(len(runs)))

        async def worker() -> None:
            for i in indexes:
                child, previous = runs[i]
                results[i] = await self._member(
                    child, previous, soft, absorb=absorb, failures=failures
                )

        await _all([worker() for _ in range(window)])
        return results

    async def _member(
        self,
        child: Node,
        previous: Any,
        soft: bool,
        *,
        absorb: bool,
        failures: list[ShardFailure] | None = None,
    ) -> Any:
        key = _member_key(child)
        if key in self._values:
            return self._values[key]
        try:
            value = await self._node(child, previous, soft or absorb or failures is not None)
        except _StageFailure as failure:
            if failures is not None:
                failures.append(
                    ShardFailure(
                        member=key,
                        stage_id=failure.stage_id,
                        error=failure.error,
                        fatal=failure.fatal,
                    )
                )
                return None
            if not absorb or failure.fatal:
                raise
            value = {
                FAILURE_MARKER: True,
                "stage_id": failure.stage_id,
                "error": failure.error.model_dump(),
            }
        self._values[key] = value
        return value

    # ------------------------------------------------------------------ shards
    def _shardable(self, width: int, members: tuple[Node, ...] | list[Node]) -> bool:
        """Whether a fan-out this wide runs in shards: past the runtime's shard width, and with
        no input element in its members (a human's answer goes to the pipeline itself)."""
        limit = self._rt.shard_width
        return limit is not None and width > limit and not any(map(_has_input, members))

    async def _sharded(
        self,
        fan: _FanOut,
        cap: int | None,
        soft: bool,
        *,
        absorb: bool,
        failures: list[ShardFailure] | None = None,
    ) -> list[Any]:
        """Run a wide fan-out in shards (other workflows), a few at a time; their stages and
        events are merged into this run's as they report (:meth:`apply_progress`).

        A member that failed for good in a shard is held here, as if it had failed here: its
        retry re-runs it in this run, skipping the stages that already succeeded.
        """
        width = self._rt.shard_width or 1
        n = len(fan)
        size = max(width, math.ceil(n / width))  # so that no run has more than `width` shards
        chunks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
        fail_fast = not absorb and failures is None and (soft or self._config.failure_hold_s <= 0)
        # Per-step caps are counted per workflow: shards of capped steps go one at a time.
        at_once = 1 if self._limits else max(1, min(self._rt.shards_in_flight, len(chunks)))
        shard_cap = None if cap is None else max(1, cap // at_once)
        results: list[Any] = [None] * n
        gate = Gate(at_once)
        captured: set[str] = set()

        async def run_chunk(lo: int, hi: int) -> list[str]:
            """Members ``lo`` to ``hi`` in a shard (made only once a slot is free: a fan-out of
            100,000 writes no more than a few shards' members per workflow task)."""
            keys = [fan.key(i) for i in range(lo, hi)]
            done = f"shard:{keys[0]}:{hi - lo}"
            if done in self._values:
                return keys
            call = fan.call(lo, hi).model_copy(
                update={
                    "cap": shard_cap,
                    "absorb": absorb,
                    "fail_fast": fail_fast,
                    "values": {k: self._values[k] for k in keys if k in self._values},
                }
            )
            out = await self._run_shard(call, keys[0].rsplit("|", 1)[-1])
            self._values.update(out.values)
            failed = {f.member for f in out.failures}
            for key, result in zip(keys, out.results, strict=False):
                if key not in failed:
                    self._values[key] = result
            self._values[done] = True
            for f in out.failures:
                if f.fatal or fail_fast:
                    raise _StageFailure(f.stage_id, f.error, fatal=f.fatal)
                if failures is not None:
                    failures.append(f)
                    captured.add(f.member)
                else:
                    self._held[f.stage_id] = HeldStage(error=f.error)
            self._refresh_state()
            return keys

        async def chunk(lo: int, hi: int) -> None:
            keys = await gate.run(lambda: run_chunk(lo, hi))
            # What did not end well in its shard (or was not over when this run began) goes on
            # in this run.
            rest = [lo + i for i, k in enumerate(keys) if k not in self._values]
            rest = [i for i in rest if fan.key(i) not in captured]
            if rest:
                await _all(
                    [
                        self._member(*fan.member(self, i), soft, absorb=absorb, failures=failures)
                        for i in rest
                    ]
                )
            for i, key in enumerate(keys):
                results[lo + i] = self._values.get(key)

        await _all([chunk(lo, hi) for lo, hi in chunks])
        return results

    async def _run_shard(self, call: ShardCall, first_stage: str) -> ShardResult:
        await self._unpaused()
        try:
            return await self._counted(lambda: self._rt.run_shard(call))
        except StepFailed as failed:  # a limit reached, or the shard ended without an outcome
            raise _StageFailure(first_stage, failed.error, fatal=True) from None

    async def run_shard(self, call: ShardCall) -> ShardResult:
        """Run a shard of a pipeline's fan-out (this run was made with ``shard=True``)."""
        self._started = True
        self._started_at = self._rt.now()
        self._state = PipelineState.RUNNING
        self._values.update(call.values)
        if call.template is not None:
            fan = _FanOut(
                template=node_from_wire(call.template), items=call.items or [], offset=call.offset
            )
        else:
            fan = _FanOut(
                members=tuple(node_from_wire(m) for m in call.members or []),
                previous=call.previous,
            )
        capture: list[ShardFailure] | None = None if call.absorb or call.fail_fast else []
        try:
            if self._shardable(len(fan), fan.nodes):
                results = await self._sharded(
                    fan, call.cap, True, absorb=call.absorb, failures=capture
                )
            else:
                runs = [fan.member(self, i) for i in range(len(fan))]
                results = await self._fan_out(
                    runs, call.cap, True, absorb=call.absorb, failures=capture
                )
        except _StageFailure as failure:
            first = ShardFailure(
                member="-", stage_id=failure.stage_id, error=failure.error, fatal=failure.fatal
            )
            return ShardResult(results=[], failures=[first])
        return ShardResult(
            results=results,
            failures=capture or [],
            values=dict(self._values) if capture else {},
        )

    def progress(self) -> ShardProgress | None:
        """A shard's stages and events since its last report (every stage in the first one);
        ``None`` when nothing changed."""
        new = self._events[self._reported :]
        if not new and self._everything_reported:
            return None
        if self._everything_reported:
            touched = {e.payload.get("stage_id") for e in new}
            stages = [self._stages[sid] for sid in touched if sid in self._stages]
        else:
            stages = list(self._stages.values())
            self._everything_reported = True
        self._reported = len(self._events)
        return ShardProgress(events=new, stages=stages)

    def apply_progress(self, progress: ShardProgress) -> None:
        """Merge a shard's report: its stages become this run's, its events join the log."""
        if self._final is not None:
            return
        for rec in progress.stages:
            self._stages[rec.stage_id] = rec
        for event in progress.events:
            self._events.append(
                event.model_copy(update={"id": len(self._events) + 1, "trace_id": self._trace_id})
            )
        self._refresh_state()
        self._rt.notify()

    async def _map(self, node: MapPlan, previous: Any, soft: bool) -> Any:
        if node.stage_id in self._values:
            return self._values[node.stage_id]
        value = await self._run_map(node, previous, soft)
        self._values[node.stage_id] = value
        return value

    async def _run_map(self, node: MapPlan, previous: Any, soft: bool) -> Any:
        rec = self._stages[node.stage_id]
        held = self._held.pop(node.stage_id, None)
        if held is not None:
            await self._hold(rec, held, soft)
        resumed = rec.state is StageState.RUNNING  # it was running in an earlier run
        while True:
            if not resumed:
                rec.state = StageState.RUNNING
                rec.scheduled_at = self._rt.now()
                rec.attempts += 1
                self._emit(
                    EventType.STAGE_SCHEDULED,
                    stage_id=rec.stage_id,
                    step="map",
                    attempt=rec.attempts,
                )
            resumed = False
            try:
                items = resolve_items(previous, node.items)
            except ValueError as exc:
                error = ErrorInfo(type="InvalidItems", message=str(exc), stage_id=rec.stage_id)
                verdict = await self._after_failure(rec, "fail", error, previous, soft)
                if verdict is _RETRY:
                    continue
                return verdict
            break
        absorb = node.on_error == "continue"
        if self._shardable(len(items), (node.element,)):
            fan = _FanOut(template=node.element, items=items)
            work = self._sharded(fan, node.max_concurrency, soft, absorb=absorb)
        else:
            runs = [(self._expand(node.element, f"[{i}]"), item) for i, item in enumerate(items)]
            work = self._fan_out(runs, node.max_concurrency, soft, absorb=absorb)
        self._refresh_state()
        try:
            results = await work
        except asyncio.CancelledError:
            rec.state = StageState.CANCELLED
            rec.finished_at = self._rt.now()
            self._emit(EventType.STAGE_CANCELLED, stage_id=rec.stage_id, step="map")
            raise
        except _StageFailure as failure:
            rec.state = StageState.FAILED
            rec.error = failure.error
            rec.finished_at = self._rt.now()
            self._emit(
                EventType.STAGE_FAILED,
                stage_id=rec.stage_id,
                step="map",
                attempt=rec.attempts,
                error=failure.error.model_dump(),
            )
            raise
        self._succeed(rec, results)
        return results

    def _expand(self, node: Node, suffix: str, *, record: bool = True) -> Node:
        """A run of a map element: its stage ids with ``suffix`` appended (and, with ``record``,
        their status records made; a nested map's element stays a template)."""
        if isinstance(node, StepPlan | InputPlan | MapPlan):
            sid = node.stage_id + suffix
            run: StepPlan | InputPlan | MapPlan = (
                replace(
                    node, stage_id=sid, element=self._expand(node.element, suffix, record=False)
                )
                if isinstance(node, MapPlan)
                else replace(node, stage_id=sid)
            )
            if record and sid not in self._stages:
                self._stages[sid] = _record(run)
            return run
        if isinstance(node, ChainPlan | GroupPlan):
            return replace(
                node, children=tuple(self._expand(c, suffix, record=record) for c in node.children)
            )
        if isinstance(node, ChordPlan):
            group = self._expand(node.group, suffix, record=record)
            assert isinstance(group, GroupPlan)
            callback = node.callback and self._expand(node.callback, suffix, record=record)
            assert callback is None or isinstance(callback, StepPlan)
            return replace(node, group=group, callback=callback)
        raise TypeError(f"a map element cannot hold {type(node).__name__}")

    async def _dag(self, node: DagPlan, soft: bool) -> Any:
        tasks: dict[str, asyncio.Task[Any]] = {}

        async def stage(plan: StepPlan, deps: tuple[str, ...]) -> Any:
            inputs = {}
            for dep in deps:
                inputs[dep] = await tasks[dep]
            return await self._step_stage(plan, inputs, soft)

        for s in node.stages:
            tasks[s.step.stage_id] = asyncio.create_task(stage(s.step, s.depends_on))
        results = await _gather_tasks(list(tasks.values()))
        by_id = dict(zip(tasks, results, strict=True))
        if len(node.sinks) == 1:
            return by_id[node.sinks[0]]
        return {sid: by_id[sid] for sid in node.sinks}

    # ------------------------------------------------------------------ stages
    def _call(self, plan: StepPlan, previous: Any, attempt_offset: int) -> StepCall:
        return StepCall(
            pipeline_id=self._pipeline_id,
            tenant_id=self._tenant_id,
            stage_id=plan.stage_id,
            step=plan.step,
            kwargs=plan.kwargs,
            previous=previous,
            input=self._input,
            settings=self._settings,
            trace_id=self._trace_id,
            attempt_offset=attempt_offset,
            retry=plan.retry,
            timeout_s=plan.timeout_s,
            heartbeat_timeout_s=plan.heartbeat_timeout_s,
            task_queue=plan.task_queue,
            local=plan.local,
        )

    async def _limited(self, step: str, work: Callable[[], Awaitable[T]]) -> T:
        gate = self._limits.get(step)
        if gate is None:
            return await self._bounded(work)
        return await gate.run(lambda: self._bounded(work))

    async def _bounded(self, work: Callable[[], Awaitable[T]]) -> T:
        if self._in_flight is None:
            return await work()
        return await self._in_flight.run(work)

    async def _step_stage(self, plan: StepPlan, previous: Any, soft: bool) -> Any:
        if plan.stage_id in self._values:
            return self._values[plan.stage_id]
        value = await self._run_step_stage(plan, previous, soft)
        self._values[plan.stage_id] = value
        return value

    async def _run_step_stage(self, plan: StepPlan, previous: Any, soft: bool) -> Any:
        rec = self._stages[plan.stage_id]
        held = self._held.pop(plan.stage_id, None)
        if held is not None:
            await self._hold(rec, held, soft)  # raises, or returns when asked to retry
        while True:
            try:
                outcome = await self._limited(
                    plan.step, lambda: self._attempt(rec, self._call(plan, previous, rec.attempts))
                )
            except StepFailed as failed:
                rec.attempts += failed.attempts
                error = failed.error.model_copy(update={"stage_id": plan.stage_id})
                if failed.ends_pipeline:  # as a soft failure: no handler, no hold; raises
                    await self._after_failure(rec, "fail", error, previous, soft=True)
                verdict = await self._after_failure(rec, plan.on_failure, error, previous, soft)
                if verdict is _RETRY:
                    continue
                return verdict
            rec.attempts += outcome.attempts
            self._succeed(rec, outcome.result)
            return outcome.result

    async def _unpaused(self) -> None:
        if self._paused:
            await self._rt.wait_condition(lambda: not self._paused, timeout=None)

    async def _counted(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` (a step or a shard) counted as running (see :attr:`idle`)."""
        self._running += 1
        try:
            return await work()
        finally:
            self._running -= 1
            self._rt.notify()

    async def _attempt(self, rec: StageStatus, call: StepCall) -> Any:
        await self._unpaused()
        rec.state = StageState.RUNNING
        rec.scheduled_at = self._rt.now()
        rec.finished_at = None
        self._emit(
            EventType.STAGE_SCHEDULED,
            stage_id=rec.stage_id,
            step=rec.step,
            attempt=rec.attempts + 1,
        )
        self._refresh_state()
        try:
            return await self._counted(lambda: self._rt.run_step(call))
        except asyncio.CancelledError:
            rec.state = StageState.CANCELLED
            rec.finished_at = self._rt.now()
            self._emit(EventType.STAGE_CANCELLED, stage_id=rec.stage_id, step=rec.step)
            raise

    def _keep_result(self, rec: StageStatus, result: Any) -> None:
        """Keep a stage's result for status answers, unless it is too large to carry there."""
        small = (
            self._inline_bytes is None
            or result is None
            or len(_fingerprint(result)) <= self._inline_bytes
        )
        rec.result = result if small else None
        rec.result_omitted = not small

    def _succeed(self, rec: StageStatus, result: Any) -> None:
        rec.state = StageState.SUCCEEDED
        self._keep_result(rec, result)
        rec.error = None
        rec.finished_at = self._rt.now()
        duration = (
            (rec.finished_at - rec.scheduled_at).total_seconds() if rec.scheduled_at else None
        )
        self._emit(
            EventType.STAGE_SUCCEEDED,
            stage_id=rec.stage_id,
            step=rec.step,
            attempt=rec.attempts,
            duration_s=duration,
        )
        self._refresh_state()

    async def _input_stage(self, plan: InputPlan, previous: Any, soft: bool) -> Any:
        if plan.stage_id in self._values:
            return self._values[plan.stage_id]
        value = await self._run_input_stage(plan, previous, soft)
        self._values[plan.stage_id] = value
        return value

    async def _run_input_stage(self, plan: InputPlan, previous: Any, soft: bool) -> Any:
        rec = self._stages[plan.stage_id]
        held = self._held.pop(plan.stage_id, None)
        if held is not None:
            await self._hold(rec, held, soft)
        while True:
            now = self._rt.now()
            timeout = plan.timeout_s
            if plan.stage_id in self._resume_wait:  # waiting since an earlier run
                deadline = self._resume_wait.pop(plan.stage_id)
                if deadline is not None:
                    timeout = max((deadline - now).total_seconds(), 0.001)
            else:
                deadline = now + timedelta(seconds=plan.timeout_s) if plan.timeout_s else None
                rec.state = StageState.WAITING_INPUT
                rec.scheduled_at = now
                self._emit(
                    EventType.PIPELINE_WAITING_INPUT,
                    stage_id=plan.stage_id,
                    prompt=plan.prompt,
                    schema=plan.schema,
                )
            waiting = _Waiting(plan, deadline)
            self._waiting[plan.stage_id] = waiting
            self._refresh_state()
            try:
                received = await self._rt.wait_condition(
                    lambda w=waiting: w.received,  # type: ignore[misc]
                    timeout=timeout,
                    summary=f"waiting for input {plan.stage_id} — submit_input to answer",
                )
            except asyncio.CancelledError:
                self._waiting.pop(plan.stage_id, None)
                if rec.state is not StageState.SUCCEEDED:
                    rec.state = StageState.CANCELLED
                    self._emit(EventType.STAGE_CANCELLED, stage_id=plan.stage_id, step="input")
                raise
            if received or waiting.received:
                return waiting.payload
            self._waiting.pop(plan.stage_id, None)
            error = ErrorInfo(
                type="InputTimeout",
                message=f"no input within {plan.timeout_s:g} s",
                stage_id=plan.stage_id,
            )
            rec.attempts += 1
            verdict = await self._after_failure(rec, plan.on_failure, error, previous, soft)
            if verdict is not _RETRY:
                return verdict

    async def _after_failure(
        self, rec: StageStatus, on_failure: str, error: ErrorInfo, previous: Any, soft: bool
    ) -> Any:
        """Apply ``on_failure``: a value to use as the stage's result, or ``_RETRY``."""
        rec.state = StageState.FAILED
        rec.error = error
        rec.finished_at = self._rt.now()
        self._emit(
            EventType.STAGE_FAILED,
            stage_id=rec.stage_id,
            step=rec.step,
            attempt=rec.attempts,
            error=error.model_dump(),
            on_failure=on_failure,
        )
        if on_failure == "continue":
            self._refresh_state()
            return None
        if on_failure != "fail":
            handled, value = await self._run_handler(rec, on_failure, error, previous)
            if handled:
                return value
        if soft or self._config.failure_hold_s <= 0:
            self._refresh_state()
            raise _StageFailure(rec.stage_id, error)
        return await self._park(rec, error)

    async def _hold(self, rec: StageStatus, held: HeldStage, soft: bool) -> None:
        """Hold a stage that failed for good elsewhere (a shard, an earlier run) as if it had
        failed here; return when a retry is asked for, raise if none comes."""
        if soft or self._config.failure_hold_s <= 0:
            self._refresh_state()
            raise _StageFailure(rec.stage_id, held.error)
        await self._park(rec, held.error, deadline=held.deadline)

    async def _park(
        self, rec: StageStatus, error: ErrorInfo, *, deadline: datetime | None = None
    ) -> Any:
        hold = self._config.failure_hold_s
        wait: float = hold
        if deadline is not None:  # held since an earlier run
            wait = max((deadline - self._rt.now()).total_seconds(), 0.001)
        parked = _Parked(deadline or self._rt.now() + timedelta(seconds=hold))
        self._parked[rec.stage_id] = parked
        self._refresh_state()
        shown = utc_minute(parked.deadline) if parked.deadline else ""
        retried = await self._rt.wait_condition(
            lambda: parked.retry_requested,
            timeout=wait,
            summary=f"held in FAILED until {shown} — retry_stage to resume",
        )
        if retried or parked.retry_requested:
            return _RETRY
        raise _StageFailure(
            rec.stage_id,
            error.model_copy(
                update={"message": f"{error.message} (not retried within {hold:g} s)"}
            ),
        )

    async def _run_handler(
        self, rec: StageStatus, handler: str, error: ErrorInfo, previous: Any
    ) -> tuple[bool, Any]:
        hid = f"{rec.stage_id}.on_failure"
        hrec = self._stages.get(hid)
        if hrec is None:
            hrec = self._stages[hid] = StageStatus(stage_id=hid, step=handler, kind="handler")
        plan = self._hook_plan(hid, handler)
        info = {
            "stage_id": rec.stage_id,
            "step": rec.step,
            "error": error.model_dump(),
            "previous": previous,
        }
        try:
            outcome = await self._attempt(hrec, self._call(plan, info, hrec.attempts))
        except StepFailed as failed:
            hrec.attempts += failed.attempts
            hrec.state = StageState.FAILED
            hrec.error = failed.error.model_copy(update={"stage_id": hid})
            hrec.finished_at = self._rt.now()
            self._emit(
                EventType.STAGE_FAILED,
                stage_id=hid,
                step=handler,
                attempt=hrec.attempts,
                error=hrec.error.model_dump(),
            )
            return False, None
        hrec.attempts += outcome.attempts
        self._succeed(hrec, outcome.result)
        return True, outcome.result

    def _hook_plan(self, stage_id: str, step: str) -> StepPlan:
        d = self._config.defaults
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

    async def _run_hook(self, hook: str, previous: Any) -> None:
        step = getattr(self._config.hooks, hook)
        if step is None:
            return
        plan = self._hook_plan(f"hook.{hook}", step)
        await self._unpaused()
        try:
            outcome = await self._counted(lambda: self._rt.run_step(self._call(plan, previous, 0)))
        except StepFailed as failed:
            self._emit(EventType.HOOK_FAILED, hook=hook, step=step, error=failed.error.model_dump())
            return
        self._emit(EventType.HOOK_SUCCEEDED, hook=hook, step=step, attempt=outcome.attempts)


def _has_input(node: Node) -> bool:
    if isinstance(node, InputPlan):
        return True
    if isinstance(node, ChainPlan | GroupPlan):
        return any(map(_has_input, node.children))
    if isinstance(node, ChordPlan):
        return _has_input(node.group)
    if isinstance(node, MapPlan):
        return _has_input(node.element)
    return False


@dataclass
class _FanOut:
    """The members of a fan-out: a group's (each gets ``previous``), or the runs of a map's
    element over ``items`` (run ``i`` is numbered ``offset + i``)."""

    members: tuple[Node, ...] = ()
    previous: Any = None
    template: Node | None = None
    items: list[Any] | None = None
    offset: int = 0

    def __len__(self) -> int:
        return len(self.items) if self.template is not None and self.items else len(self.members)

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (self.template,) if self.template is not None else self.members

    def key(self, i: int) -> str:
        """:func:`_member_key` of member ``i``, without making it."""
        if self.template is None:
            return _member_key(self.members[i])
        return f"{self.template.path}|{_first_stage(self.template)}[{self.offset + i}]"

    def member(self, run: PipelineRun, i: int) -> tuple[Node, Any]:
        """Member ``i`` and its previous value (a map's run gets its status records)."""
        if self.template is None:
            return self.members[i], self.previous
        assert self.items is not None
        return run._expand(self.template, f"[{self.offset + i}]"), self.items[i]

    def call(self, lo: int, hi: int) -> ShardCall:
        """Members ``lo`` to ``hi`` as a shard."""
        if self.template is None:
            members = [node_to_wire(m) for m in self.members[lo:hi]]
            return ShardCall(members=members, previous=self.previous)
        assert self.items is not None
        return ShardCall(
            template=node_to_wire(self.template),
            items=self.items[lo:hi],
            offset=self.offset + lo,
        )


class _RetrySentinel:
    pass


_RETRY: Any = _RetrySentinel()


async def _gather_tasks(tasks: list[asyncio.Task[Any]]) -> list[Any]:
    """Gather; if one fails (or this is cancelled), cancel the others and wait for them."""
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _all(coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    return await _gather_tasks([asyncio.create_task(c) for c in coros])
