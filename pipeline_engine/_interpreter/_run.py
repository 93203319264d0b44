"""One pipeline run: the facade the Temporal workflow, the shard workflow and the fake engine
drive. It builds the run's parts, walks the plan from start to end and answers commands and
reads by handing them to the part whose job they are (see the package docstring for the map).

Everything here must stay deterministic: time comes from the runtime, no I/O, no randomness.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline_engine._interpreter._commands import Commands
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._endings import Endings
from pipeline_engine._interpreter._failure import FAILURE_MARKER, FailurePolicy, StageFailure
from pipeline_engine._interpreter._handoff import RunSnapshot, ShardCall, ShardProgress, ShardResult
from pipeline_engine._interpreter._input import InputStage
from pipeline_engine._interpreter._map import MapStage
from pipeline_engine._interpreter._progress import Reporter, merge
from pipeline_engine._interpreter._reads import Reads
from pipeline_engine._interpreter._records import Records, record
from pipeline_engine._interpreter._runtime import Runtime
from pipeline_engine._interpreter._shards import serve
from pipeline_engine._interpreter._snapshot import restore, snapshot
from pipeline_engine._interpreter._step import StepStage
from pipeline_engine._interpreter._sub_pipeline import SubPipelineStage
from pipeline_engine._interpreter._switch import SwitchStage
from pipeline_engine._interpreter._walk import Walk
from pipeline_engine.dsl import (
    DagPlan,
    InputPlan,
    MapPlan,
    Plan,
    StepPlan,
    SubPipelinePlan,
    SwitchPlan,
)
from pipeline_engine.events import EventType
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import ErrorInfo
from pipeline_engine.versions import PipelineVersionRef

__all__ = ["FAILURE_MARKER", "PipelineRun"]

_ENDED: Any = object()
"""The run ended before its walk began (cancelled)."""


class PipelineRun(Commands, Reads):
    """The interpreter of one pipeline: call :meth:`run`, drive it with the command methods
    (:class:`Commands`), read it with :class:`Reads`."""

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
        reuse: dict[str, Any] | None = None,
        input_as_previous: bool = False,
        pipeline_ref: PipelineVersionRef | None = None,
    ) -> None:
        """Args beyond the pipeline's own: ``max_in_flight`` caps the steps running at once in
        this run, whatever the config says (Temporal allows 2,000 pending activities per
        workflow); ``max_result_bytes`` fails a pipeline whose result would not fit in the
        workflow's result payload (``ResultTooLarge``) instead of letting it loop;
        ``inline_result_bytes`` leaves larger results out of status answers (``result_omitted``);
        ``resume`` goes on from a run's :meth:`snapshot`; ``shard`` runs a slice of a fan-out
        (:meth:`run_shard`) whose stages and events are reported to the pipeline; ``reuse``: stage
        results a failed run of this pipeline (a sub-pipeline's child) had, not run again;
        ``input_as_previous``: its first stage receives ``input`` as ``previous`` (a child: it
        goes on from its parent's chain)
        (:meth:`progress`); ``pipeline_ref`` names the stored version it runs (in its status
        and its ``pipeline.created`` event)."""
        self._plan = plan
        self._rt = runtime
        self._records = Records(
            runtime,
            pipeline_id=pipeline_id,
            tenant_id=tenant_id,
            name=plan.config.name,
            trace_id=trace_id,
            stages={s.stage_id: record(s) for s in plan.stages},
            inline_bytes=inline_result_bytes,
            ref=pipeline_ref,
        )
        self._ctx = RunContext(
            plan=plan,
            runtime=runtime,
            records=self._records,
            pipeline_id=pipeline_id,
            tenant_id=tenant_id,
            input=input,
            settings=settings,
            trace_id=trace_id,
            window=max_in_flight,
        )
        self._walk = Walk(self._ctx)
        self._walk.register(StepPlan, StepStage(self._ctx, self._walk.conditions))
        self._walk.register(SwitchPlan, SwitchStage(self._ctx, self._walk))
        self._walk.register(SubPipelinePlan, SubPipelineStage(self._ctx, self._walk.conditions))
        self._walk.register(InputPlan, InputStage(self._ctx))
        self._walk.register(MapPlan, MapStage(self._ctx, self._walk.fan_out))
        self._endings = Endings(self._ctx, max_result_bytes)
        self._reporter = Reporter(self._records)
        self._root: asyncio.Task[Any] | None = None
        self._input_as_previous = input_as_previous
        self._runs = 1
        self._resumed_started = False
        if resume is None and reuse:
            self._reuse(reuse)
        if resume is not None:
            self._runs = restore(self._records, self._ctx.memo, resume)
            self._resumed_started = self._records.started
        elif not shard:
            self._records.emit(
                EventType.PIPELINE_CREATED,
                name=plan.config.name,
                tenant_id=tenant_id,
                state=PipelineState.PENDING.value,
                pipeline_ref=None if pipeline_ref is None else pipeline_ref.model_dump(),
            )

    def _reuse(self, finished: dict[str, Any]) -> None:
        """Stages a failed run finished: SUCCEEDED from the start, with their results."""
        for stage_id, value in finished.items():
            rec = self._records.stages.get(stage_id)
            if rec is None:
                continue  # not a stage of this plan (a map's run: its map runs it again)
            rec.state = StageState.SUCCEEDED
            self._records.keep_result(rec, value)
            self._ctx.memo.put(stage_id, value)

    # ------------------------------------------------------------------ continue-as-new
    def snapshot(self) -> RunSnapshot:
        """The run's whole state, for :class:`PipelineRun` ``(resume=...)`` in a new run; take it
        while :attr:`idle` (no step running)."""
        return snapshot(self._records, self._ctx.memo, self._runs)

    @property
    def runs(self) -> int:
        """Workflow runs this pipeline has had, this one included."""
        return self._runs

    @property
    def size(self) -> int:
        """Events in the log plus stages: what a :meth:`snapshot` carries, roughly."""
        return len(self._records.events) + len(self._records.stages)

    @property
    def idle(self) -> bool:
        """No step (nor shard) is running: the run can be snapshot."""
        return self._ctx.running == 0

    def pause(self) -> None:
        """Start nothing more (steps wait) until the run is continued elsewhere."""
        self._ctx.paused = True

    def unpause(self) -> None:
        """Start steps again (the run was not continued after all)."""
        self._ctx.paused = False
        self._rt.notify()

    # ------------------------------------------------------------------ commands
    def _cancel_root(self) -> None:
        if self._root is not None and not self._root.done():
            self._root.cancel()

    # ------------------------------------------------------------------ shards
    async def run_shard(self, call: ShardCall) -> ShardResult:
        """Run a shard of a pipeline's fan-out (this run was made with ``shard=True``)."""
        self._reporter.block = call.block
        return await serve(self._ctx, self._walk.fan_out, call)

    def progress(self, source: str = "") -> ShardProgress | None:
        """A shard's stages and events since its last report (every stage in the first one);
        ``None`` when nothing changed. ``source``: the shard's workflow, where a thin parent
        reads what it does not keep."""
        return self._reporter.progress(source)

    def apply_progress(self, progress: ShardProgress) -> None:
        """Merge a shard's report: its stages become this run's, its events join the log."""
        merge(self._records, self._rt, progress, self._ctx.trace_id)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> PipelineState:
        """Run the pipeline to its end; its final state.

        Re-raises ``CancelledError`` after a native cancellation.
        """
        records, endings = self._records, self._endings
        try:
            result = await self._walk_root()
        except asyncio.CancelledError:
            native = records.cancel_reason is None
            if native:
                records.cancel_reason = "cancelled through Temporal"
                records.emit(EventType.PIPELINE_CANCEL_REQUESTED, reason=records.cancel_reason)
            await endings.cancelled(self._root, run_hook=records.started)
            if native:
                raise
        except TimeoutError:
            if records.cancel_reason is not None:
                await endings.cancelled(self._root, run_hook=True)
            else:
                timeout = self._plan.config.timeout_s
                message = f"pipeline did not finish within {timeout:g} s"
                await endings.failed(ErrorInfo(type="PipelineTimeout", message=message))
        except StageFailure as failure:
            await endings.failed(failure.error)
        else:
            if result is not _ENDED:
                await endings.succeeded(result)
        return records.state

    async def _walk_root(self) -> Any:
        """Wait for the start, run ``on_start``, walk the plan: its result (or :data:`_ENDED`)."""
        records = self._records
        resumed = self._resumed_started  # an earlier run started it (and ran on_start)
        await self._rt.wait_condition(
            lambda: records.started or records.cancel_reason is not None, timeout=None
        )
        if records.cancel_reason is not None:
            await self._endings.cancelled(self._root, run_hook=False)
            return _ENDED
        if not resumed:
            await self._endings.run_hook("on_start", None)
        if records.cancel_reason is not None:
            await self._endings.cancelled(self._root, run_hook=True)
            return _ENDED
        previous: Any = {} if isinstance(self._plan.root, DagPlan) else None
        if self._input_as_previous and previous is None:
            previous = self._ctx.input
        policy = FailurePolicy.top(self._ctx)
        self._root = asyncio.create_task(self._walk.run(self._plan.root, previous, policy))
        timeout = self._timeout(resumed)
        if timeout is None:
            return await self._root
        return await asyncio.wait_for(self._root, timeout)

    def _timeout(self, resumed: bool) -> float | None:
        """What is left of the pipeline's ``timeout_s`` (counted from its start)."""
        timeout = self._plan.config.timeout_s
        started_at = self._records.started_at
        if timeout is not None and resumed and started_at is not None:
            elapsed = (self._rt.now() - started_at).total_seconds()
            timeout = max(timeout - elapsed, 0.001)
        return timeout
