"""The pipeline operations over Temporal: what the REST API and the CLI call.

Holds no pipeline state of its own: every answer comes from the workflow (queries, updates) or from
Temporal visibility. Temporal errors are translated into the project's error hierarchy here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from opentelemetry import trace
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine._ids import config_fingerprint, pipeline_id_for
from pipeline_engine.dsl import PipelineConfig, parse_config
from pipeline_engine.errors import (
    Conflict,
    EngineUnavailable,
    InvalidState,
    PipelineError,
    PipelineNotFound,
    error_from_dict,
)
from pipeline_engine.events import Event
from pipeline_engine.observability.tracing import current_trace_id
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import StepRegistry
from workflows import names
from workflows.messages import (
    CancelRequest,
    HistoryQuery,
    PipelineWorkflowInput,
    RetryStageRequest,
    StartRequest,
    SubmitInputRequest,
)

__all__ = [
    "CreatedPipeline",
    "PipelinePage",
    "PipelineSummary",
    "TemporalPipelineEngine",
    "pipeline_id_for",
]

T = TypeVar("T")
_tracer = trace.get_tracer("pipeline_engine")

_CLOSED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


@dataclass(frozen=True)
class CreatedPipeline:
    pipeline_id: str
    state: PipelineState
    created: bool


@dataclass(frozen=True)
class PipelineSummary:
    pipeline_id: str
    name: str | None
    tenant_id: str | None
    state: str | None
    started_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class PipelinePage:
    items: list[PipelineSummary]
    next_page_token: str | None


def _translate(exc: BaseException) -> PipelineError | None:
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, WorkflowUpdateFailedError | WorkflowQueryFailedError):
        cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else None
        if isinstance(cause, ApplicationError) and cause.type:
            details = list(cause.details) if cause.details else []
            return error_from_dict(
                {"error": cause.type, "message": cause.message, "details": details}
            )
        return InvalidState(str(cause or exc))
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return PipelineNotFound("pipeline not found")
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return EngineUnavailable(f"Temporal is unavailable: {exc.message}")
    return None


class TemporalPipelineEngine:
    """Pipeline operations (create, start, status, history, cancel, retry, input, list).

    Args:
        client: A Temporal client using the pydantic data converter.
        task_queue: Task queue of ``PipelineWorkflow``.
        registry: Steps that configs are validated against (``None`` skips that check).
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = names.DEFAULT_TASK_QUEUE,
        registry: StepRegistry | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._registry = registry

    @property
    def client(self) -> Client:
        return self._client

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except Exception as exc:
            mapped = _translate(exc)
            if mapped is None:
                raise
            raise mapped from None

    def _handle(self, pipeline_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(pipeline_id)

    # ------------------------------------------------------------------ create & start
    async def create_pipeline(
        self,
        config: PipelineConfig | dict[str, Any] | str,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        settings: dict[str, Any] | None = None,
        start: bool = False,
    ) -> CreatedPipeline:
        """Create a pipeline in PENDING (or RUNNING with ``start``); idempotent."""
        with _tracer.start_as_current_span("CreatePipeline"):
            return await self._create(
                config,
                input=input,
                tenant_id=tenant_id,
                idempotency_key=idempotency_key,
                settings=settings,
                start=start,
            )

    async def _create(
        self,
        config: PipelineConfig | dict[str, Any] | str,
        *,
        input: Any,
        tenant_id: str | None,
        idempotency_key: str | None,
        settings: dict[str, Any] | None,
        start: bool,
    ) -> CreatedPipeline:
        plan = parse_config(config, registry=self._registry)
        parsed = plan.config
        pid = pipeline_id_for(
            tenant_id=tenant_id,
            config=parsed,
            input=input,
            idempotency_key=idempotency_key,
            settings=settings,
        )
        fingerprint = config_fingerprint(parsed, input, settings)
        params = PipelineWorkflowInput(
            config=parsed,
            tenant_id=tenant_id,
            input=input,
            settings=settings or {},
            trace_id=current_trace_id() or uuid.uuid4().hex,
            autostart=start,
        )
        attrs = [
            SearchAttributePair(names.SA_PIPELINE_STATE, PipelineState.PENDING.value),
            SearchAttributePair(names.SA_PIPELINE_NAME, parsed.name),
        ]
        if tenant_id is not None:
            attrs.append(SearchAttributePair(names.SA_TENANT_ID, tenant_id))
        try:
            await self._client.start_workflow(
                names.WORKFLOW_TYPE,
                params,
                id=pid,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(attrs),
                memo={names.MEMO_FINGERPRINT: fingerprint},
                static_summary=f"{parsed.name} ({tenant_id or 'no tenant'})",
            )
        except WorkflowAlreadyStartedError:
            existing = await self._call(lambda: self._handle(pid).describe())
            previous = await existing.memo_value(names.MEMO_FINGERPRINT, default=None)
            if previous != fingerprint:
                raise Conflict(
                    "idempotency key already used with a different config or input",
                    details=[{"pipeline_id": pid, "idempotency_key": idempotency_key}],
                ) from None
            if start:
                await self.start_pipeline(pid)
            return CreatedPipeline(pid, await self.get_status(pid), created=False)
        except Exception as exc:
            mapped = _translate(exc)
            if mapped is None:
                raise
            raise mapped from None
        return CreatedPipeline(
            pid, PipelineState.RUNNING if start else PipelineState.PENDING, created=True
        )

    async def _update(
        self,
        pipeline_id: str,
        update: str,
        arg: BaseModel,
        *,
        when_closed: Callable[[PipelineStatus], PipelineState],
    ) -> PipelineState:
        handle = self._handle(pipeline_id)
        try:
            result = await handle.execute_update(update, arg, result_type=PipelineState)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND and await self._exists(pipeline_id):
                return when_closed(await self.get_pipeline(pipeline_id))
            raise _translate(exc) or exc from None
        except Exception as exc:
            mapped = _translate(exc)
            if mapped is None:
                raise
            raise mapped from None
        return PipelineState(result)

    async def _exists(self, pipeline_id: str) -> bool:
        try:
            await self._handle(pipeline_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _translate(exc) or exc from None
        return True

    async def start_pipeline(self, pipeline_id: str) -> PipelineState:
        """Start a PENDING pipeline; repeated calls return the current state."""
        return await self._update(
            pipeline_id, names.UPDATE_START, StartRequest(), when_closed=lambda s: s.state
        )

    async def cancel_pipeline(self, pipeline_id: str, reason: str) -> PipelineState:
        """Cancel; returns CANCELLED once stopped. 409 if it already ended otherwise."""

        def closed(status: PipelineStatus) -> PipelineState:
            if status.state is PipelineState.CANCELLED:
                return status.state
            raise InvalidState(f"pipeline already ended as {status.state.value}")

        return await self._update(
            pipeline_id, names.UPDATE_CANCEL, CancelRequest(reason=reason), when_closed=closed
        )

    async def retry_stage(self, pipeline_id: str, stage_id: str, reason: str) -> PipelineState:
        """Re-run a stage that failed for good while the pipeline is held in FAILED."""

        def closed(status: PipelineStatus) -> PipelineState:
            raise InvalidState(f"pipeline already ended as {status.state.value}; nothing to retry")

        return await self._update(
            pipeline_id,
            names.UPDATE_RETRY_STAGE,
            RetryStageRequest(stage_id=stage_id, reason=reason),
            when_closed=closed,
        )

    async def submit_input(
        self, pipeline_id: str, payload: Any, responder: str, *, stage_id: str | None = None
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema)."""

        def closed(status: PipelineStatus) -> PipelineState:
            raise InvalidState(
                f"pipeline already ended as {status.state.value}; no input is waiting"
            )

        return await self._update(
            pipeline_id,
            names.UPDATE_SUBMIT_INPUT,
            SubmitInputRequest(payload=payload, responder=responder, stage_id=stage_id),
            when_closed=closed,
        )

    # ------------------------------------------------------------------ reads
    async def get_pipeline(self, pipeline_id: str) -> PipelineStatus:
        """The whole picture of a pipeline.

        A running pipeline answers the ``status`` query; an ended one is read from its workflow's
        result (or failure), which needs no worker and no replay.
        """
        handle = self._handle(pipeline_id)
        desc = await self._call(handle.describe)
        if desc.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
            typed = self._client.get_workflow_handle(pipeline_id, result_type=PipelineStatus)
            final = await self._call(lambda: _final_status(typed))
            if final is not None:
                return final
        return await self._call(
            lambda: handle.query(names.QUERY_STATUS, result_type=PipelineStatus)
        )

    async def get_status(self, pipeline_id: str) -> PipelineState:
        """The pipeline's state."""
        return (await self.get_pipeline(pipeline_id)).state

    async def get_history(
        self, pipeline_id: str, *, since: datetime | None = None, after_id: int | None = None
    ) -> list[Event]:
        """The pipeline's events, in order (``since``: at or after a time)."""
        return await self._call(
            lambda: self._handle(pipeline_id).query(
                names.QUERY_HISTORY,
                HistoryQuery(since=since, after_id=after_id),
                result_type=list[Event],
            )
        )

    async def tenant_of(self, pipeline_id: str) -> str | None:
        """The owning tenant, read from the workflow's ``TenantId`` search attribute."""
        desc = await self._call(lambda: self._handle(pipeline_id).describe())
        return desc.typed_search_attributes.get(names.SA_TENANT_ID)

    async def is_closed(self, pipeline_id: str) -> bool:
        """Whether the workflow behind the pipeline has closed."""
        desc = await self._call(lambda: self._handle(pipeline_id).describe())
        return desc.status in _CLOSED

    async def list_pipelines(
        self,
        *,
        tenant_ids: list[str] | None = None,
        state: PipelineState | None = None,
        page_size: int = 50,
        next_page_token: str | None = None,
    ) -> PipelinePage:
        """Pipelines from Temporal visibility, newest first; ``tenant_ids=None`` means all."""
        clauses = [f"WorkflowType = '{names.WORKFLOW_TYPE}'"]
        if tenant_ids is not None:
            if not tenant_ids:
                return PipelinePage([], None)
            quoted = ", ".join(_quote(t) for t in tenant_ids)
            clauses.append(f"{names.SA_TENANT_ID.name} IN ({quoted})")
        if state is not None:
            clauses.append(f"{names.SA_PIPELINE_STATE.name} = {_quote(state.value)}")
        query = " AND ".join(clauses)
        token = bytes.fromhex(next_page_token) if next_page_token else None

        async def fetch() -> PipelinePage:
            it = self._client.list_workflows(query, page_size=page_size, next_page_token=token)
            await it.fetch_next_page(page_size=page_size)
            items = [
                PipelineSummary(
                    pipeline_id=w.id,
                    name=w.typed_search_attributes.get(names.SA_PIPELINE_NAME),
                    tenant_id=w.typed_search_attributes.get(names.SA_TENANT_ID),
                    state=w.typed_search_attributes.get(names.SA_PIPELINE_STATE),
                    started_at=w.start_time,
                    closed_at=w.close_time,
                )
                for w in it.current_page or []
            ]
            nxt = it.next_page_token.hex() if it.next_page_token else None
            return PipelinePage(items, nxt)

        return await self._call(fetch)


async def _final_status(handle: WorkflowHandle[Any, PipelineStatus]) -> PipelineStatus | None:
    """The status an ended workflow left: its result, or the details of its failure."""
    try:
        return await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "PipelineFailed" and cause.details:
            detail = cause.details[0]
            if isinstance(detail, dict) and "state" in detail:
                return PipelineStatus.model_validate(detail)
    return None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
