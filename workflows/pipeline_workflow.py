"""``PipelineWorkflow``: the one generic workflow that interprets every pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pipeline_engine._interpreter import PipelineRun, ShardProgress
    from pipeline_engine._interpreter._handoff import (
        HistoryParts,
        HistoryPartsQuery,
        PartsQuery,
        StatusParts,
    )
    from pipeline_engine.dsl import compile_plan, pydantic_problems
    from pipeline_engine.dsl._cel import preload as _preload_cel
    from pipeline_engine.errors import InvalidInput, PipelineError
    from pipeline_engine.events import Event
    from pipeline_engine.states import PipelineState
    from pipeline_engine.status import PipelineStatus, StagePage
    from workflows import names
    from workflows.children import Children
    from workflows.features import taken
    from workflows.messages import (
        CancelRequest,
        CommandRequest,
        HistoryQuery,
        PipelineWorkflowInput,
        RetryFailedRequest,
        RetryStageRequest,
        RunLimits,
        ShardWorkflowInput,
        StartRequest,
        SubmitInputRequest,
    )
    from workflows.runtime import TemporalRuntime
    from workflows.schedule_runs import count_schedule_run
    from workflows.web_ui import RUNNING_PAGE, current_details

_preload_cel()  # CEL is imported with the workflow, never inside a workflow task

R = TypeVar("R", bound=CommandRequest)
_REDRAW_EVERY = timedelta(seconds=1)

SIGNALS_PATCH = "signals-beside-updates"
"""Histories from before the signal handlers had their signals buffered and unused: keep it so."""
ACTORS_PATCH = "command-actors"
"""Commands in histories from before actors were recorded keep no actor, not a wrong one."""


_PATCH_LIMITS = "run-limits"
_MOVABLE_SIZE = 90_000
"""A state of more events and stages than this does not continue as new: decoding it would keep
the new run's first task past the SDK's 2 s deadlock detector (about 0.7 s per 60,000 events
measured). Such a run goes on until the history bound (HistoryTooLarge). A chain of 30,000
steps still continues; a fan-out that wide runs in shards, whose own states are small."""
_SUGGESTED_MIN_EVENTS = 1000
"""Temporal's suggestion alone continues a run only past this many events: a run whose input is
already large (no payload store) would otherwise continue as new for ever."""


def _rejection(exc: PipelineError) -> ApplicationError:
    return ApplicationError(exc.message, *exc.details, type=exc.code, non_retryable=True)


def _request(model: type[R], name: str, raw: Any) -> R:
    data = {} if raw is None else raw
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            f"{name}: the arguments are not valid", problems=pydantic_problems(exc, data)
        ) from None


@workflow.defn(name=names.WORKFLOW_TYPE)
class PipelineWorkflow:
    """Interprets the pipeline tree passed in its input; driven by updates, read by queries."""

    @workflow.init
    def __init__(self, params: PipelineWorkflowInput) -> None:
        # Runs started before the limits existed keep running unbounded, as they were recorded.
        features = params.limits.features if params.limits is not None else 0
        limits = (params.limits or RunLimits()) if taken(_PATCH_LIMITS, features) else None
        self._limits = limits
        self._runtime = TemporalRuntime(
            tenant_id=params.tenant_id,
            trace_id=params.trace_id,
            history_bound=(limits.max_history_events, limits.max_history_bytes) if limits else None,
            shard_width=limits.shard_width if limits else None,
            shards_in_flight=limits.shards_in_flight if limits else 1,
            shard_input=ShardWorkflowInput.for_pipeline(params, workflow.info().workflow_id, limits)
            if limits
            else None,
            children=Children.of(params, limits),
            features=features,
        )
        self._run = PipelineRun(
            plan=compile_plan(params.config, local_defaults=frozenset(params.local_steps)),
            pipeline_id=workflow.info().workflow_id,
            tenant_id=params.tenant_id,
            input=params.input,
            settings=params.settings,
            trace_id=params.trace_id,
            runtime=self._runtime,
            max_in_flight=limits.max_in_flight if limits else None,
            max_result_bytes=limits.max_result_bytes if limits else None,
            inline_result_bytes=limits.inline_result_bytes if limits else None,
            resume=params.resume,
            reuse=params.reuse,
            input_as_previous=params.input_as_previous,
            pipeline_ref=params.pipeline_ref,
        )

    def _final(self) -> PipelineStatus:
        if self._limits is None:
            return self._run.status()
        return self._run.final_status(max_bytes=self._limits.max_status_bytes)

    @workflow.run
    async def run(self, params: PipelineWorkflowInput) -> PipelineStatus:
        if params.resume is None:  # a first run, not one continued as new
            count_schedule_run(params.tenant_id)
        if params.autostart and params.resume is None:
            self._run.start()
        details = asyncio.create_task(self._show_details())
        states = asyncio.create_task(self._runtime.states.run())
        walk = asyncio.create_task(self._run.run())
        try:
            await self._continue_as_new_when_due(walk, params)
            await walk
        except asyncio.CancelledError:
            if not walk.done():  # cancelled through Temporal: the walk ends the pipeline
                walk.cancel()
                await workflow.wait([walk])
            await workflow.wait_condition(workflow.all_handlers_finished)
            details.cancel()
            self._end_states(states)
            workflow.set_current_details(current_details(self._run.status(RUNNING_PAGE)))
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        details.cancel()
        self._end_states(states)
        status = self._final()
        workflow.set_current_details(current_details(self._run.status(RUNNING_PAGE)))
        if status.state is PipelineState.FAILED:
            error = status.error
            where = f"stage {error.stage_id}: " if error and error.stage_id else ""
            raise ApplicationError(
                "pipeline failed: "
                + (f"{where}{error.type}: {error.message}" if error else "unknown error"),
                status.model_dump(mode="json", by_alias=True),
                type="PipelineFailed",
                non_retryable=True,
            )
        return status

    def _end_states(self, states: asyncio.Task[None]) -> None:
        """The run ends: its last state is written now (the activation ends with the run)."""
        self._runtime.states.flush()
        states.cancel()

    async def _continue_as_new_when_due(
        self, walk: asyncio.Task[PipelineState], params: PipelineWorkflowInput
    ) -> None:
        """Continue as new once the history is long (or Temporal suggests it): start no more
        steps, let the running ones (and shards) finish, then go on in a new run from a
        snapshot of the whole state. Returns when the walk is over instead."""
        limits = self._limits
        if limits is None or limits.continue_as_new_events is None:
            return
        threshold = limits.continue_as_new_events

        def due() -> bool:
            if self._run.size > _MOVABLE_SIZE:
                return False
            info = workflow.info()
            length = info.get_current_history_length()
            return length >= threshold or (
                info.is_continue_as_new_suggested() and length >= _SUGGESTED_MIN_EVENTS
            )

        await workflow.wait_condition(lambda: walk.done() or due())
        if walk.done():
            return
        self._run.pause()
        await workflow.wait_condition(
            lambda: walk.done() or (self._run.idle and workflow.all_handlers_finished())
        )
        if walk.done():
            return
        snapshot = self._run.snapshot()
        if limits.max_result_bytes is not None and (
            len(snapshot.model_dump_json()) > limits.max_status_bytes
        ):
            # No payload store: the state would not fit in the new run's input. Go on in this
            # run; HistoryTooLarge ends the pipeline clearly if the history's limits come.
            self._run.unpause()
            return
        workflow.logger.info("continuing as new (run %d)", snapshot.runs)
        self._runtime.states.flush()
        workflow.continue_as_new(params.model_copy(update={"resume": snapshot, "autostart": False}))

    @workflow.signal(name=names.SIGNAL_SHARD_PROGRESS)
    def shard_progress(self, progress: ShardProgress) -> None:
        """A shard of one of this pipeline's fan-outs reports its stages and events."""
        self._run.apply_progress(progress)

    async def _show_details(self) -> None:
        """Keep the Web UI's *current details* true, with no commands: redrawn at every state
        change, and otherwise at most once per second of workflow time (a redraw reads every
        stage, so a wide fan-out is not redrawn at each of its activities)."""
        drawn: tuple[PipelineState, datetime] | None = None
        while True:
            await workflow.wait_condition(lambda: self._runtime.changed)
            self._runtime.changed = False
            state, now = self._run.state, workflow.now()
            if drawn and drawn[0] is state and now - drawn[1] < _REDRAW_EVERY:
                continue
            drawn = (state, now)
            workflow.set_current_details(current_details(self._run.status(RUNNING_PAGE)))

    def _actor(self, request: CommandRequest | None) -> str | None:
        """Who sent a command: the REST caller's token subject, else whoever used Temporal."""
        if request is not None and request.actor:
            return request.actor
        return names.TEMPORAL_ACTOR if taken(ACTORS_PATCH, self._runtime.features) else None

    def _start(self, request: StartRequest | None) -> PipelineState:
        return self._run.start(actor=self._actor(request))

    def _submit_input(self, request: SubmitInputRequest) -> PipelineState:
        return self._run.submit_input(
            request.payload, request.responder, request.stage_id, actor=self._actor(request)
        )

    def _retry_stage(self, request: RetryStageRequest) -> PipelineState:
        return self._run.retry_stage(request.stage_id, request.reason, actor=self._actor(request))

    def _retry_failed(self, request: RetryFailedRequest) -> PipelineState:
        return self._run.retry_failed(request.reason, actor=self._actor(request))

    # -- updates ---------------------------------------------------------------------------
    @workflow.update(name=names.UPDATE_START)
    def start(self, request: StartRequest | None = None) -> PipelineState:
        return self._start(request)

    @workflow.update(name=names.UPDATE_SUBMIT_INPUT)
    def submit_input(self, request: SubmitInputRequest) -> PipelineState:
        return self._submit_input(request)

    @submit_input.validator
    def _check_submit_input(self, request: SubmitInputRequest) -> None:
        try:
            self._run.validate_submit_input(request.payload, request.responder, request.stage_id)
        except PipelineError as exc:
            raise _rejection(exc) from None

    @workflow.update(name=names.UPDATE_RETRY_STAGE)
    def retry_stage(self, request: RetryStageRequest) -> PipelineState:
        return self._retry_stage(request)

    @retry_stage.validator
    def _check_retry_stage(self, request: RetryStageRequest) -> None:
        try:
            self._run.validate_retry_stage(request.stage_id, request.reason)
        except PipelineError as exc:
            raise _rejection(exc) from None

    @workflow.update(name=names.UPDATE_RETRY_FAILED)
    def retry_failed(self, request: RetryFailedRequest | None = None) -> PipelineState:
        return self._retry_failed(request or RetryFailedRequest())

    @retry_failed.validator
    def _check_retry_failed(self, request: RetryFailedRequest | None = None) -> None:
        try:
            self._run.validate_retry_failed((request or RetryFailedRequest()).reason)
        except PipelineError as exc:
            raise _rejection(exc) from None

    @workflow.update(name=names.UPDATE_CANCEL)
    async def cancel(self, request: CancelRequest | None = None) -> PipelineState:
        reason = request.reason if request else ""
        return await self._run.cancel(reason, actor=self._actor(request))

    # -- signals: the same commands, fire-and-forget (``temporal workflow signal``, batch by query)
    def _on_signal(self, name: str, model: type[R], raw: Any, apply: Callable[[R], object]) -> None:
        if not taken(SIGNALS_PATCH, self._runtime.features):
            return
        try:
            apply(_request(model, name, raw))
        except PipelineError as exc:
            self._run.record_rejection(name, exc)

    @workflow.signal(name=names.UPDATE_START)
    def start_signal(self, raw: Any = None) -> None:
        self._on_signal(names.UPDATE_START, StartRequest, raw, self._start)

    @workflow.signal(name=names.UPDATE_SUBMIT_INPUT)
    def submit_input_signal(self, raw: Any = None) -> None:
        self._on_signal(names.UPDATE_SUBMIT_INPUT, SubmitInputRequest, raw, self._submit_input)

    @workflow.signal(name=names.UPDATE_RETRY_STAGE)
    def retry_stage_signal(self, raw: Any = None) -> None:
        self._on_signal(names.UPDATE_RETRY_STAGE, RetryStageRequest, raw, self._retry_stage)

    @workflow.signal(name=names.UPDATE_RETRY_FAILED)
    def retry_failed_signal(self, raw: Any = None) -> None:
        self._on_signal(names.UPDATE_RETRY_FAILED, RetryFailedRequest, raw, self._retry_failed)

    @workflow.signal(name=names.UPDATE_CANCEL)
    def cancel_signal(self, raw: Any = None) -> None:
        self._on_signal(
            names.UPDATE_CANCEL,
            CancelRequest,
            raw,
            lambda r: self._run.request_cancel(r.reason, actor=self._actor(r)),
        )

    # -- queries ---------------------------------------------------------------------------
    @workflow.query(name=names.QUERY_STATUS)
    def status(self, page: StagePage | None = None) -> PipelineStatus:
        return self._run.status(page or StagePage())

    @workflow.query(name=names.QUERY_HISTORY)
    def history(self, query: HistoryQuery | None = None) -> list[Event]:
        q = query or HistoryQuery()
        return self._run.history(since=q.since, after_id=q.after_id, limit=q.limit)

    @workflow.query(name=names.QUERY_STATUS_PARTS)
    def status_parts(self, query: PartsQuery | None = None) -> StatusParts:
        """A status page, naming the slices of it its fan-outs' shards hold."""
        return self._run.status_parts(query or PartsQuery())

    @workflow.query(name=names.QUERY_HISTORY_PARTS)
    def history_parts(self, query: HistoryPartsQuery | None = None) -> HistoryParts:
        """A history page, naming the spans of it its fan-outs' shards keep."""
        return self._run.history_parts(query or HistoryPartsQuery())
