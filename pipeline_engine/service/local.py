"""``LocalPipelineEngine``: the :class:`PipelineEngine` that runs pipelines in this process.

Pipelines run on the same interpreter as the Temporal workflow (:class:`PipelineRun`) and their
steps in-process (:class:`LocalRuntime`), with the same retry and timeout rules as the activities.
It is the engine behind the offline fake (:mod:`pipeline_engine.testing`), served by the real API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline_engine._interpreter import LocalRuntime, PipelineRun
from pipeline_engine._interpreter._children import PinnedPipelines, SubPipelineCall
from pipeline_engine._interpreter._local import BeforeAttempt
from pipeline_engine._step_cache import MemoryStepCache
from pipeline_engine.dsl import PipelineConfig, Plan
from pipeline_engine.errors import PipelineNotFound
from pipeline_engine.events import Event
from pipeline_engine.pages import PipelinePage, PipelineSummary, PipelineWhere
from pipeline_engine.service.engine import CreatedPipeline, PipelineChange
from pipeline_engine.service.front import (
    CreateRequest,
    EngineFront,
    HistoryWindow,
    InputAnswer,
    ListQuery,
)
from pipeline_engine.service.local_children import ChildRunner, StartChild, StartedChild
from pipeline_engine.service.rules import Command, closed_run_verdict, page_of
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import PipelineVersionRef

__all__ = ["LocalPipelineEngine"]


@dataclass
class _Entry:
    run: PipelineRun
    task: asyncio.Task[PipelineState]
    tenant_id: str | None
    config: PipelineConfig
    fingerprint: str
    created_at: datetime
    seq: int
    pinned: PinnedPipelines | None = None
    ref: PipelineVersionRef | None = None


def _of_origin(ref: PipelineVersionRef | None, where: PipelineWhere) -> bool:
    """Whether a run of ``ref`` passes the ``pipeline=`` and ``version=`` filters."""
    if where.pipeline is None and where.version is None:
        return True
    return (
        ref is not None
        and where.pipeline in (None, ref.name)
        and where.version in (None, ref.version)
    )


class _Runtime(LocalRuntime):
    """``LocalRuntime`` that also tells the engine when an event may have been appended."""

    def __init__(self, registry: StepRegistry, signal: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(registry, **kwargs)
        self._signal = signal

    def notify(self) -> None:
        super().notify()
        asyncio.get_running_loop().call_soon(self._signal)


class LocalPipelineEngine(EngineFront):
    """Pipelines in memory, run in this process (implements :class:`PipelineEngine`).

    Args:
        registry: Where steps are looked up.
        time_scale: Multiplies retry back-off waits (``0`` retries at once).
        before_attempt: Awaited before every step attempt (may raise to fail it, or wait).
    """

    _registry: StepRegistry

    def __init__(
        self,
        registry: StepRegistry,
        *,
        time_scale: float = 1.0,
        before_attempt: BeforeAttempt | None = None,
    ) -> None:
        self._registry = registry
        self._time_scale = time_scale
        self._before_attempt = before_attempt
        self.step_cache = MemoryStepCache()
        """The step cache of every pipeline of this engine (``cache`` on a step)."""
        self._pipelines: dict[str, _Entry] = {}
        self._changes = 0
        self._waiters: list[asyncio.Future[None]] = []

    def _signal(self) -> None:
        self._changes += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _entry(self, pipeline_id: str) -> _Entry:
        entry = self._pipelines.get(pipeline_id)
        if entry is None:
            raise PipelineNotFound(f"no pipeline {pipeline_id[:80]!r}")
        return entry

    async def _command(
        self, pipeline_id: str, command: Command, act: Callable[[PipelineRun], Any]
    ) -> PipelineState:
        entry = self._entry(pipeline_id)
        if entry.task.done():
            return closed_run_verdict(command, entry.run.state)
        result = act(entry.run)
        return PipelineState(await result if asyncio.iscoroutine(result) else result)

    # ------------------------------------------------------------------ create & commands
    async def _create(self, request: CreateRequest) -> CreatedPipeline:
        """``priority`` and ``batch`` have no effect here: nothing waits in a queue."""
        identity, tenant_id = request.identity, request.tenant_id
        plan, pid = identity.plan, identity.pipeline_id
        settings = request.settings or {}
        existing = self._pipelines.get(pid)
        if existing is not None:
            identity.check_repeat(existing.fingerprint)
            if request.start:
                await self.start_pipeline(pid)
            return CreatedPipeline(pid, existing.run.state, created=False)
        children = ChildRunner(identity.prepared.pinned, self._start_child(tenant_id, settings))
        run = self._launch(
            pid, plan, tenant_id, request.input, settings, children, identity.prepared.ref
        )
        if request.start:
            run.start()
        self._keep(pid, run, tenant_id, plan.config, identity.fingerprint, identity.prepared.pinned)
        return CreatedPipeline(pid, run.state, created=True)

    def _launch(
        self,
        pid: str,
        plan: Plan,
        tenant_id: str | None,
        input: Any,
        settings: dict[str, Any],
        children: ChildRunner,
        ref: PipelineVersionRef | None,
        *,
        reuse: dict[str, Any] | None = None,
        child: bool = False,
    ) -> PipelineRun:
        runtime = _Runtime(
            self._registry,
            self._signal,
            time_scale=self._time_scale,
            before_attempt=self._before_attempt,
            cache=self.step_cache,
            children=children,
        )
        return PipelineRun(
            plan=plan,
            pipeline_id=pid,
            tenant_id=tenant_id,
            input=input,
            settings=settings,
            trace_id=uuid.uuid4().hex,
            runtime=runtime,
            pipeline_ref=ref,
            reuse=reuse,
            input_as_previous=child,
        )

    def _keep(
        self,
        pid: str,
        run: PipelineRun,
        tenant_id: str | None,
        config: PipelineConfig,
        fingerprint: str,
        pinned: PinnedPipelines | None,
    ) -> asyncio.Task[PipelineState]:
        """Run ``run`` as the engine's pipeline ``pid`` (a child run again replaces its last)."""
        task = asyncio.get_running_loop().create_task(run.run(), name=f"pipeline-{pid}")
        task.add_done_callback(lambda _t: self._signal())
        seq = len(self._pipelines)
        self._pipelines[pid] = _Entry(
            run,
            task,
            tenant_id,
            config,
            fingerprint,
            datetime.now(UTC),
            seq,
            pinned,
            run.pipeline_ref,
        )
        self._signal()
        return task

    def _start_child(self, tenant_id: str | None, settings: dict[str, Any]) -> StartChild:
        """How the children of a pipeline of ``tenant_id`` start (same tenant and settings)."""

        def start(
            call: SubPipelineCall, plan: Plan, runner: ChildRunner, ref: PipelineVersionRef
        ) -> StartedChild:
            pid = call.child_id
            children = ChildRunner(runner.pinned, self._start_child(tenant_id, settings))
            run = self._launch(
                pid,
                plan,
                tenant_id,
                call.input,
                settings,
                children,
                ref,
                reuse=call.reuse,
                child=True,
            )
            run.start()
            return run, self._keep(pid, run, tenant_id, plan.config, "", runner.pinned)

        return start

    async def start_pipeline(self, pipeline_id: str, *, actor: str | None = None) -> PipelineState:
        """Start a PENDING pipeline; repeated calls return the current state."""
        return await self._command(pipeline_id, "start", lambda run: run.start(actor=actor))

    async def cancel_pipeline(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Cancel; CANCELLED once stopped (``InvalidState`` if it already ended otherwise)."""
        return await self._command(
            pipeline_id, "cancel", lambda run: run.cancel(reason, actor=actor)
        )

    async def retry_stage(
        self, pipeline_id: str, stage_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run a stage that failed for good while the pipeline is held in FAILED."""
        return await self._command(
            pipeline_id, "retry_stage", lambda run: run.retry_stage(stage_id, reason, actor=actor)
        )

    async def retry_failed(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run every stage held in FAILED at once (``InvalidState`` when none is)."""
        return await self._command(
            pipeline_id, "retry_failed", lambda run: run.retry_failed(reason, actor=actor)
        )

    async def _submit_input(self, pipeline_id: str, answer: InputAnswer) -> PipelineState:
        return await self._command(
            pipeline_id,
            "submit_input",
            lambda run: run.submit_input(
                answer.payload, answer.responder, answer.stage_id, actor=answer.actor
            ),
        )

    # ------------------------------------------------------------------ reads
    async def get_pipeline(
        self, pipeline_id: str, *, page: StagePage | None = None
    ) -> PipelineStatus:
        """The whole picture of a pipeline, with a page of its stages (default: the first)."""
        return self._entry(pipeline_id).run.status(page or StagePage(), whole_result=True)

    async def get_status(self, pipeline_id: str) -> PipelineState:
        """The pipeline's state."""
        return self._entry(pipeline_id).run.state

    async def _history(self, pipeline_id: str, window: HistoryWindow) -> list[Event]:
        run = self._entry(pipeline_id).run
        return list(run.history(since=window.since, after_id=window.after_id, limit=window.limit))

    async def get_config(self, pipeline_id: str) -> PipelineConfig:
        """The config the pipeline runs."""
        return self._entry(pipeline_id).config

    async def get_sub_pipelines(self, pipeline_id: str) -> PinnedPipelines | None:
        """The versions its sub-pipelines run, pinned when it was created."""
        return self._entry(pipeline_id).pinned

    async def tenant_of(self, pipeline_id: str) -> str | None:
        """The owning tenant."""
        return self._entry(pipeline_id).tenant_id

    async def is_closed(self, pipeline_id: str) -> bool:
        """Whether the pipeline's run is over."""
        return self._entry(pipeline_id).task.done()

    def _summaries(
        self,
        tenant_ids: list[str] | None,
        state: PipelineState | None,
        where: PipelineWhere | None,
    ) -> list[PipelineSummary]:
        """Every pipeline that passes the filters, newest first."""
        rows = sorted(self._pipelines.items(), key=lambda kv: kv[1].seq, reverse=True)
        filters = where or PipelineWhere()
        return [
            PipelineSummary(
                pipeline_id=pid,
                name=e.config.name,
                tenant_id=e.tenant_id,
                state=e.run.state.value,
                started_at=e.created_at,
                closed_at=e.run.status().finished_at if e.task.done() else None,
                pipeline_version=e.ref.version if e.ref is not None else None,
            )
            for pid, e in rows
            if (tenant_ids is None or e.tenant_id in tenant_ids)
            and (state is None or e.run.state is state)
            and e.config.name.startswith(filters.name_prefix or "")
            and _of_origin(e.ref, filters)
            and (filters.started_after is None or e.created_at >= filters.started_after)
            and (filters.started_before is None or e.created_at < filters.started_before)
        ]

    async def _list(self, query: ListQuery) -> PipelinePage:
        items = self._summaries(query.tenant_ids, query.state, query.where)
        page, token = page_of(items, page_size=query.page_size, token=query.next_page_token)
        return PipelinePage(items=page, next_page_token=token)

    async def count_pipelines(
        self, *, tenant_ids: list[str] | None = None, where: PipelineWhere | None = None
    ) -> dict[str, int]:
        """How many pipelines are in each state (``tenant_ids=None`` means all)."""
        return dict(Counter(str(p.state) for p in self._summaries(tenant_ids, None, where)))

    async def watch_changes(self, pipeline_id: str) -> AsyncIterator[PipelineChange]:
        """A change at once, then one whenever the run appended an event; ends when it is over."""
        entry = self._entry(pipeline_id)
        while True:
            seen = self._changes
            closed = entry.task.done()
            yield PipelineChange(closed=closed)
            if closed:
                return
            while self._changes == seen:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

    async def check_health(self, *, timeout_s: float) -> None:
        """Always healthy: everything is in this process."""

    async def aclose(self) -> None:
        """Stop every pipeline still running (their in-flight steps are cancelled)."""
        tasks = [e.task for e in self._pipelines.values() if not e.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
