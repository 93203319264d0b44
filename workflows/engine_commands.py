"""Commands to pipelines over Temporal: create (start the workflow), start, cancel, retry, input.

A create derives the pipeline's id from the request (``identify_create`` of
:mod:`pipeline_engine.service`, shared with the local engine) and starts the workflow under it, so
a repeat lands on the same workflow. The other commands are workflow updates; a command no worker
applies in time is answered as :meth:`EngineCommands._unapplied` says.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.errors import EngineUnavailable, PipelineError, PipelineNotFound
from pipeline_engine.observability.tracing import current_trace_id
from pipeline_engine.service import (
    Command,
    CreatedPipeline,
    PreparedConfig,
    TaskPriority,
    closed_run_verdict,
)
from pipeline_engine.service.front import CreateRequest, InputAnswer
from pipeline_engine.states import PipelineState
from workflows import names, web_ui
from workflows.engine_reads import EngineReads
from workflows.messages import (
    CancelRequest,
    PipelineWorkflowInput,
    RetryFailedRequest,
    RetryStageRequest,
    StartRequest,
    SubmitInputRequest,
)
from workflows.recorded_status import recorded_status

__all__ = ["EngineCommands"]

_FAIRNESS_KEY_MAX_BYTES = 64  # Temporal's limit


def _priority(tenant_id: str | None, priority: TaskPriority | None = None) -> Priority:
    """The tenant is the fairness key of its pipelines' tasks (activities and child workflows
    inherit it), so that matching shares dispatch between tenants instead of serving one tenant's
    backlog first; the tenant config's priority key and fairness weight go with it."""
    chosen = priority or TaskPriority()
    key: str | None = None
    if tenant_id is not None:
        key = tenant_id
        if len(key.encode()) > _FAIRNESS_KEY_MAX_BYTES:  # tenant ids may be longer: a digest
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:48]
    if key is None and chosen.key is None:
        return Priority.default  # a weight without a fairness key would weigh nothing
    return Priority(
        priority_key=chosen.key,
        fairness_key=key,
        fairness_weight=chosen.fairness_weight if key is not None else None,
    )


class _RunNotFound(PipelineNotFound):
    """An update found no open run: the pipeline may have ended (or never existed)."""


def _no_open_run(exc: RPCError) -> PipelineError:
    return _RunNotFound("pipeline not found")


class EngineCommands(EngineReads):
    """The engine's commands (a command's verdict may need a read: hence on top of the reads)."""

    async def _create(self, request: CreateRequest) -> CreatedPipeline:
        """``priority`` (the tenant's) goes on the workflow with the tenant as fairness key; its
        activities and child workflows inherit it. ``batch`` marks it as one of a batch's
        pipelines (search attribute ``BatchId``, its input's index in the memo)."""
        identity, tenant_id, start = request.identity, request.tenant_id, request.start
        if identity.legacy_id is not None:
            repeat = await self._legacy_repeat(request)
            if repeat is not None:
                return repeat
        batch = request.batch
        plan, pid = identity.plan, identity.pipeline_id
        parsed = plan.config
        summary, details = self._web_ui_texts(identity.prepared, tenant_id)
        params = self.workflow_input(
            identity.prepared,
            input=request.input,
            tenant_id=tenant_id,
            settings=request.settings,
            start=start,
        )
        state = PipelineState.RUNNING if start else PipelineState.PENDING
        attrs: list[SearchAttributePair[Any]] = [  # started: RUNNING from the first moment
            SearchAttributePair(names.SA_PIPELINE_STATE, state.value),
            SearchAttributePair(names.SA_PIPELINE_NAME, parsed.name),
        ]
        if tenant_id is not None:
            attrs.append(SearchAttributePair(names.SA_TENANT_ID, tenant_id))
        if identity.prepared.ref is not None:  # where it came from (``PipelineVersion = 2``)
            attrs.append(
                SearchAttributePair(names.SA_PIPELINE_VERSION, identity.prepared.ref.version)
            )
        memo: dict[str, Any] = {names.MEMO_FINGERPRINT: identity.fingerprint}
        if identity.prepared.ref is not None:
            memo[names.MEMO_PIPELINE_REF] = identity.prepared.ref.model_dump()
        if batch is not None:
            attrs.append(SearchAttributePair(names.SA_BATCH_ID, batch.batch_id))
            memo[names.MEMO_BATCH_INDEX] = batch.index
        try:
            await self._calls(
                lambda: self._client.start_workflow(
                    names.WORKFLOW_TYPE,
                    params,
                    id=pid,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes(attrs),
                    memo=memo,
                    static_summary=summary,
                    static_details=details,
                    # the first workflow task comes back in the start response when a worker of
                    # this queue runs in this process (`pipeline-engine dev`); elsewhere a no-op
                    request_eager_start=True,
                    priority=_priority(tenant_id, request.priority),
                ),
                passing=(WorkflowAlreadyStartedError,),
            )
        except WorkflowAlreadyStartedError:
            existing = await self._calls(self._handle(pid).describe)
            identity.check_repeat(await existing.memo_value(names.MEMO_FINGERPRINT, default=None))
            if start:
                await self.start_pipeline(pid)
            return CreatedPipeline(pid, await self.get_status(pid), created=False)
        return CreatedPipeline(pid, state, created=True)

    async def _legacy_repeat(self, request: CreateRequest) -> CreatedPipeline | None:
        """The pipeline this request created before ids were keyed by the server secret, if any
        (the same checks as a repeat on the current id)."""
        identity = request.identity
        legacy = identity.legacy_id
        if legacy is None or legacy == identity.pipeline_id:
            return None
        try:
            existing = await self._calls(self._handle(legacy).describe)
        except PipelineNotFound:
            return None
        stored = await existing.memo_value(names.MEMO_FINGERPRINT, default=None)
        identity.check_repeat(stored, pipeline_id=legacy)
        if request.start:
            await self.start_pipeline(legacy)
        return CreatedPipeline(legacy, await self.get_status(legacy), created=False)

    def workflow_input(
        self,
        prepared: PreparedConfig,
        *,
        input: Any,
        tenant_id: str | None,
        settings: dict[str, Any] | None,
        start: bool,
    ) -> PipelineWorkflowInput:
        """The input of a new pipeline's workflow (also what a schedule starts each run with)."""
        plan = prepared.plan
        return PipelineWorkflowInput(
            config=plan.config,
            tenant_id=tenant_id,
            input=input,
            settings=settings or {},
            trace_id=current_trace_id() or uuid.uuid4().hex,
            autostart=start,
            local_steps=sorted(plan.local_defaults),
            limits=self._limits,
            pipeline_ref=prepared.ref,
            pinned=prepared.pinned,
        )

    def web_ui_texts(self, prepared: PreparedConfig, tenant_id: str | None) -> tuple[str, str]:
        """The Web UI's summary and graph of a pipeline of ``prepared`` (kept per config)."""
        return self._web_ui_texts(prepared, tenant_id)

    def _web_ui_texts(self, prepared: PreparedConfig, tenant_id: str | None) -> tuple[str, str]:
        """The Web UI's summary and graph of a pipeline: computed once per (config, tenant)."""
        texts = self._texts.get(prepared)
        if texts is None:
            texts = self._texts[prepared] = {}
        found = texts.get(tenant_id)
        if found is None:
            plan = prepared.plan
            found = texts[tenant_id] = (
                web_ui.static_summary(plan, tenant_id, prepared.ref),
                web_ui.static_details(plan, tenant_id, prepared.ref),
            )
        return found

    def _actor(self, actor: str | None) -> str:
        """Who a command is from: the caller named by the front door, else this Temporal client."""
        return actor or self._client.identity

    async def start_pipeline(self, pipeline_id: str, *, actor: str | None = None) -> PipelineState:
        """Start a PENDING pipeline; repeated calls return the current state."""
        return await self._update(
            pipeline_id, names.UPDATE_START, StartRequest(actor=self._actor(actor)), command="start"
        )

    async def cancel_pipeline(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Cancel; returns CANCELLED once stopped. 409 if it already ended otherwise."""
        return await self._update(
            pipeline_id,
            names.UPDATE_CANCEL,
            CancelRequest(reason=reason, actor=self._actor(actor)),
            command="cancel",
        )

    async def retry_stage(
        self, pipeline_id: str, stage_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run a stage that failed for good while the pipeline is held in FAILED."""
        return await self._update(
            pipeline_id,
            names.UPDATE_RETRY_STAGE,
            RetryStageRequest(stage_id=stage_id, reason=reason, actor=self._actor(actor)),
            command="retry_stage",
        )

    async def retry_failed(
        self, pipeline_id: str, reason: str, *, actor: str | None = None
    ) -> PipelineState:
        """Re-run every stage held in FAILED at once (the ``retry_failed`` update)."""
        return await self._update(
            pipeline_id,
            names.UPDATE_RETRY_FAILED,
            RetryFailedRequest(reason=reason, actor=self._actor(actor)),
            command="retry_failed",
        )

    async def _submit_input(self, pipeline_id: str, answer: InputAnswer) -> PipelineState:
        return await self._update(
            pipeline_id,
            names.UPDATE_SUBMIT_INPUT,
            SubmitInputRequest(
                payload=answer.payload,
                responder=answer.responder,
                stage_id=answer.stage_id,
                actor=self._actor(answer.actor),
            ),
            command="submit_input",
        )

    async def _update(
        self,
        pipeline_id: str,
        update: str,
        arg: BaseModel,
        *,
        command: Command,
    ) -> PipelineState:
        """Every command goes through here. It forgets the statuses kept of the pipeline before
        (a verdict read inside it is fresh) and after (its caller never reads one from before it,
        even from a read in flight meanwhile)."""
        self._statuses.forget(pipeline_id)
        try:
            return await self._execute_update(pipeline_id, update, arg, command=command)
        finally:
            self._statuses.forget(pipeline_id)

    async def _execute_update(
        self, pipeline_id: str, update: str, arg: BaseModel, *, command: Command
    ) -> PipelineState:
        handle = self._handle(pipeline_id)
        try:
            result = await self._calls(
                lambda: asyncio.wait_for(
                    handle.execute_update(update, arg, result_type=PipelineState),
                    self._command_timeout_s,
                ),
                overrides={RPCStatusCode.NOT_FOUND: _no_open_run},
                passing=(WorkflowUpdateRPCTimeoutOrCancelledError,),
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return await self._unapplied(pipeline_id, update, arg, command=command)
        except _RunNotFound:
            if await self._exists(pipeline_id):
                return closed_run_verdict(command, (await self.get_pipeline(pipeline_id)).state)
            raise PipelineNotFound("pipeline not found") from None
        return PipelineState(result)

    async def _exists(self, pipeline_id: str) -> bool:
        try:
            await self._calls(self._handle(pipeline_id).describe)
        except PipelineNotFound:
            return False
        return True

    async def _unapplied(
        self, pipeline_id: str, update: str, arg: BaseModel, *, command: Command
    ) -> PipelineState:
        """No worker applied ``command`` in time (none is running, or all are busy).

        ``start`` and ``cancel``, harmless to apply twice, are then sent again as the signal of
        the same name, which Temporal records in the workflow's history and the workflow applies
        when a worker polls again: the answer is the recorded state (not yet the new one). The
        others answer 503: the update stays with Temporal and may still be applied when a worker
        is back, so read the status before sending it again.
        """
        if command in ("start", "cancel"):
            await self._calls(lambda: self._handle(pipeline_id).signal(update, arg))
            desc = await self._calls(self._handle(pipeline_id).describe)
            return recorded_status(desc, why=f"{command} requested").state
        raise EngineUnavailable(
            f"no worker applied {command} within {self._command_timeout_s:g} s (none running, or "
            "all busy); it may still apply when one polls: read the status before sending it again",
            retry_after_s=5.0,
        )
