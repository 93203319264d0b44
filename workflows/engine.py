"""The pipeline operations over Temporal: the production :class:`PipelineEngine`.

Holds no pipeline state of its own: every answer comes from the workflow (queries, updates) or from
Temporal visibility. Temporal errors are translated into the project's error hierarchy here, and
nowhere else; the service rules (idempotency, closed-run verdicts, paging) come from
:mod:`pipeline_engine.service`, shared with the local engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from opentelemetry import trace
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    Priority,
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from pipeline_engine._finite import refuse_non_finite
from pipeline_engine._ids import config_fingerprint, pipeline_id_for
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.errors import (
    EngineUnavailable,
    InvalidState,
    PipelineError,
    PipelineNotFound,
    error_from_dict,
)
from pipeline_engine.events import Event
from pipeline_engine.observability.tracing import current_trace_id
from pipeline_engine.pages import PipelinePage, PipelineSummary, PipelineWhere
from pipeline_engine.service import (
    Command,
    CreatedPipeline,
    PipelineChange,
    PreparedConfig,
    TaskPriority,
    check_same_request,
    closed_run_verdict,
    decode_page_token,
    invalid_page_token,
)
from pipeline_engine.settings import Settings
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage
from pipeline_engine.steps import StepRegistry
from workflows import names, search_attributes, web_ui
from workflows.connection import TemporalSecurity
from workflows.definition import pipeline_config
from workflows.event_watch import QueueTimes, history_batches
from workflows.liveness import TemporalLiveness
from workflows.messages import (
    NO_STORE_LIMITS,
    STORE_LIMITS,
    CancelRequest,
    HistoryQuery,
    PipelineWorkflowInput,
    RetryStageRequest,
    RunLimits,
    StartRequest,
    SubmitInputRequest,
)
from workflows.payload_refs import data_converter
from workflows.payload_store import PayloadMissing, PayloadStoreUnavailable, store_from_settings
from workflows.recorded_status import recorded_status
from workflows.search_attributes import SearchAttributesMissing
from workflows.status_cache import Read, StatusCache

__all__ = ["TemporalPipelineEngine", "pipeline_id_for"]

T = TypeVar("T")
_tracer = trace.get_tracer("pipeline_engine")

_WORKERLESS_MEMORY_S = 5.0

_CLOSED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


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


def _payload_problem(exc: BaseException) -> PipelineError | None:
    """A payload-store failure anywhere in ``exc``'s chain, as the error a client should see."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PayloadMissing):
            return InvalidState(
                f"{seen}: the pipeline's stored payloads were deleted after their retention "
                "(PIPELINE_ENGINE_PAYLOAD_RETENTION_S)"
            )
        if isinstance(seen, PayloadStoreUnavailable):
            return EngineUnavailable(str(seen))
        seen = seen.__cause__ or seen.__context__
    return None


def _translate(exc: BaseException, namespace: str = "default") -> PipelineError | None:
    if isinstance(exc, PipelineError):
        return exc
    unset = search_attributes.missing_from_error(exc, namespace)
    if unset is not None:
        return unset
    payload_problem = _payload_problem(exc)
    if payload_problem is not None:
        return payload_problem
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
    if isinstance(exc, RuntimeError) and "client connect" in str(exc).lower():
        # A lazy client that cannot connect raises a bare RuntimeError("Failed client connect…").
        return EngineUnavailable("Temporal is unreachable")
    return None


class TemporalPipelineEngine:
    """Pipeline operations over Temporal (implements :class:`PipelineEngine`).

    Args:
        client: A Temporal client using the pydantic data converter.
        task_queue: Task queue of ``PipelineWorkflow``.
        registry: Steps that configs are validated against (``None`` skips that check).
        query_timeout_s: How long a status or history query may wait for a worker to answer; a
            status read then answers from what Temporal recorded (see :meth:`get_pipeline`).
        command_timeout_s: How long a command (start, cancel, retry, input) may wait for a
            worker to apply it (see :meth:`cancel_pipeline` for what happens then).
        limits: Bounds of each new pipeline's workflow (default: :data:`STORE_LIMITS` when the
            client stores large payloads by reference, else :data:`NO_STORE_LIMITS`).
        status_cache_s: How long a status read of a pipeline that may still change is kept for
            the next reads of the same page (``0``, the default here: not kept; the API uses
            ``PIPELINE_ENGINE_STATUS_CACHE_S``). Ended pipelines are kept for 60 s regardless,
            and concurrent reads always share one Temporal call (see :meth:`get_pipeline`).
        register_search_attributes: The first health check adds the search attributes missing
            from the namespace (:mod:`workflows.search_attributes`), when the cluster allows it.
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = names.DEFAULT_TASK_QUEUE,
        registry: StepRegistry | None = None,
        query_timeout_s: float = 3.0,
        command_timeout_s: float = 10.0,
        limits: RunLimits | None = None,
        status_cache_s: float = 0.0,
        register_search_attributes: bool = True,
    ) -> None:
        self._client = client
        self._attributes_ok = False  # until a health check saw them all (they are not removed)
        self._register_attributes = register_search_attributes
        if limits is None:
            stored = client.data_converter.external_storage is not None
            limits = STORE_LIMITS if stored else NO_STORE_LIMITS
        self._limits = limits
        self._task_queue = task_queue
        self._registry = registry
        self._statuses = StatusCache(ttl_s=status_cache_s)
        # the Web UI texts of prepared (tenant) configs, dropped with the config
        self._texts: weakref.WeakKeyDictionary[PreparedConfig, dict[str | None, tuple[str, str]]]
        self._texts = weakref.WeakKeyDictionary()
        self._query_timeout_s = query_timeout_s
        self._command_timeout_s = command_timeout_s
        self._liveness = TemporalLiveness(
            lambda: client.service_client.check_health(timeout=timedelta(seconds=0.5))
        )
        self._unanswered_at: float | None = None  # when a query last went unanswered

    @classmethod
    async def connect(
        cls, settings: Settings, *, registry: StepRegistry | None = None
    ) -> TemporalPipelineEngine:
        """An engine on a lazily connected client: it starts while Temporal is down (then 503).

        Its calls give up on an unreachable Temporal after about a second (503 with
        ``Retry-After``) instead of the client's default ten seconds of retries.
        """
        security = TemporalSecurity.from_settings(settings)
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=security.tls,
            api_key=security.api_key,
            data_converter=data_converter(
                store_from_settings(settings), threshold_bytes=settings.payload_threshold_bytes
            ),
            lazy=True,
            retry_config=RetryConfig(max_elapsed_time_millis=1000, max_retries=3),
        )
        stored = client.data_converter.external_storage is not None
        limits = (STORE_LIMITS if stored else NO_STORE_LIMITS).model_copy(
            update={
                "shard_width": settings.shard_width,
                "continue_as_new_events": settings.continue_as_new_events,
            }
        )
        return cls(
            client,
            task_queue=settings.task_queue,
            registry=registry,
            query_timeout_s=settings.status_query_timeout_s,
            command_timeout_s=settings.command_timeout_s,
            limits=limits,
            status_cache_s=settings.status_cache_s,
            register_search_attributes=settings.register_search_attributes,
        )

    @property
    def client(self) -> Client:
        """The Temporal client."""
        return self._client

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        await self._liveness.gate()
        try:
            return await op()
        except Exception as exc:
            mapped = self._mapped(exc)
            if mapped is None:
                raise
            raise mapped from None

    def _mapped(self, exc: BaseException) -> PipelineError | None:
        """The project error for ``exc``; an unreachable Temporal makes the next calls fail fast."""
        mapped = _translate(exc, self._client.namespace)
        if isinstance(mapped, SearchAttributesMissing):
            self._attributes_ok = False
        elif isinstance(mapped, EngineUnavailable):
            self._liveness.mark_down()
        return mapped

    def _handle(self, pipeline_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(pipeline_id)

    # ------------------------------------------------------------------ create & start
    async def create_pipeline(
        self,
        config: PreparedConfig | PipelineConfig | dict[str, Any] | str,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        settings: dict[str, Any] | None = None,
        start: bool = False,
        priority: TaskPriority | None = None,
    ) -> CreatedPipeline:
        """Create a pipeline in PENDING (or RUNNING with ``start``); idempotent.

        ``priority`` (the tenant's) goes on the workflow with the tenant as fairness key; its
        activities and child workflows inherit it.
        """
        with _tracer.start_as_current_span("CreatePipeline"):
            return await self._create(
                config,
                input=input,
                tenant_id=tenant_id,
                idempotency_key=idempotency_key,
                settings=settings,
                start=start,
                priority=priority,
            )

    async def _create(
        self,
        config: PreparedConfig | PipelineConfig | dict[str, Any] | str,
        *,
        input: Any,
        tenant_id: str | None,
        idempotency_key: str | None,
        settings: dict[str, Any] | None,
        start: bool,
        priority: TaskPriority | None,
    ) -> CreatedPipeline:
        refuse_non_finite(input=input, settings=settings)
        await self._liveness.gate()
        prepared = PreparedConfig.of(config, registry=self._registry)
        plan = prepared.plan
        parsed = plan.config
        fingerprint = config_fingerprint(
            parsed, input, settings, canonical_config=prepared.canonical
        )
        pid = pipeline_id_for(
            tenant_id=tenant_id,
            config=parsed,
            input=input,
            idempotency_key=idempotency_key,
            settings=settings,
            fingerprint=fingerprint,
        )
        summary, details = self._web_ui_texts(prepared, tenant_id)
        params = PipelineWorkflowInput(
            config=parsed,
            tenant_id=tenant_id,
            input=input,
            settings=settings or {},
            trace_id=current_trace_id() or uuid.uuid4().hex,
            autostart=start,
            local_steps=sorted(plan.local_defaults),
            limits=self._limits,
        )
        state = PipelineState.RUNNING if start else PipelineState.PENDING
        attrs = [  # started: RUNNING from the first moment, so the list agrees with the answer
            SearchAttributePair(names.SA_PIPELINE_STATE, state.value),
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
                static_summary=summary,
                static_details=details,
                # the first workflow task comes back in the start response when a worker of this
                # queue runs in this process (`pipeline-engine dev`); elsewhere it is a no-op
                request_eager_start=True,
                priority=_priority(tenant_id, priority),
            )
        except WorkflowAlreadyStartedError:
            existing = await self._call(lambda: self._handle(pid).describe())
            previous = await existing.memo_value(names.MEMO_FINGERPRINT, default=None)
            check_same_request(
                pid, fingerprint=fingerprint, stored=previous, idempotency_key=idempotency_key
            )
            if start:
                await self.start_pipeline(pid)
            return CreatedPipeline(pid, await self.get_status(pid), created=False)
        except Exception as exc:
            mapped = self._mapped(exc)
            if mapped is None:
                raise
            raise mapped from None
        return CreatedPipeline(pid, state, created=True)

    def _web_ui_texts(self, prepared: PreparedConfig, tenant_id: str | None) -> tuple[str, str]:
        """The Web UI's summary and graph of a pipeline: computed once per (config, tenant)."""
        texts = self._texts.get(prepared)
        if texts is None:
            texts = self._texts[prepared] = {}
        found = texts.get(tenant_id)
        if found is None:
            plan = prepared.plan
            found = texts[tenant_id] = (
                web_ui.static_summary(plan, tenant_id),
                web_ui.static_details(plan, tenant_id),
            )
        return found

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
        await self._liveness.gate()
        handle = self._handle(pipeline_id)
        try:
            result = await asyncio.wait_for(
                handle.execute_update(update, arg, result_type=PipelineState),
                self._command_timeout_s,
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return await self._unapplied(pipeline_id, update, arg, command=command)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND and await self._exists(pipeline_id):
                return closed_run_verdict(command, (await self.get_pipeline(pipeline_id)).state)
            raise self._mapped(exc) or exc from None
        except Exception as exc:
            mapped = self._mapped(exc)
            if mapped is None:
                raise
            raise mapped from None
        return PipelineState(result)

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
            await self._call(lambda: self._handle(pipeline_id).signal(update, arg))
            desc = await self._call(self._handle(pipeline_id).describe)
            return recorded_status(desc, why=f"{command} requested").state
        raise EngineUnavailable(
            f"no worker applied {command} within {self._command_timeout_s:g} s (none running, or "
            "all busy); it may still apply when one polls: read the status before sending it again",
            retry_after_s=5.0,
        )

    async def _query(self, query: Callable[[], Awaitable[T]]) -> T | None:
        """A query's answer, or ``None`` if no worker answered within the query timeout.

        After a query went unanswered, queries are not tried for a few seconds, so repeated
        reads answer at once while no worker runs.
        """
        last = self._unanswered_at
        if last is not None and time.monotonic() - last < _WORKERLESS_MEMORY_S:
            return None
        try:
            answer = await self._call(lambda: asyncio.wait_for(query(), self._query_timeout_s))
        except TimeoutError:
            self._unanswered_at = time.monotonic()
            return None
        self._unanswered_at = None
        return answer

    def _unanswered(self) -> str:
        return f"no worker answered within {self._query_timeout_s:g} s"

    async def _exists(self, pipeline_id: str) -> bool:
        try:
            await self._handle(pipeline_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise self._mapped(exc) or exc from None
        return True

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

    async def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str | None,
        *,
        stage_id: str | None = None,
        actor: str | None = None,
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema)."""
        refuse_non_finite(payload=payload)
        return await self._update(
            pipeline_id,
            names.UPDATE_SUBMIT_INPUT,
            SubmitInputRequest(
                payload=payload,
                responder=responder,
                stage_id=stage_id,
                actor=self._actor(actor),
            ),
            command="submit_input",
        )

    # ------------------------------------------------------------------ reads
    async def get_pipeline(
        self, pipeline_id: str, *, page: StagePage | None = None
    ) -> PipelineStatus:
        """The whole picture of a pipeline, with a page of its stages (default: the first).

        One Temporal round trip while it runs: the ``status`` query, which the server rejects at
        once (without a worker) when the workflow has closed. An ended pipeline is then read from
        its workflow's result (or failure), which needs no worker and no replay. Only when that
        result left the stages out (a large pipeline) does the query page them from the closed
        workflow. The status names its tenant, so callers check ownership on the same read (on
        every read: answers are kept by pipeline, never by caller).

        Concurrent reads of the same pipeline and page share one such read. An ended pipeline's
        status is kept for 60 s; with ``status_cache_s`` any other answer is kept that long for
        the next reads of the same page; every command through this engine, and every change
        :meth:`watch_changes` sees, forgets them (:mod:`workflows.status_cache`).

        When no worker answers the query within the query timeout, the answer is what Temporal
        recorded (state, running stages), with ``note`` saying so: a read never waits for a
        worker to come back.
        """
        page = page or StagePage()
        return await self._statuses.read(pipeline_id, page, lambda: self._read(pipeline_id, page))

    async def _read(self, pipeline_id: str, page: StagePage) -> Read:
        handle = self._handle(pipeline_id)
        try:
            status: PipelineStatus | None = await self._query(
                lambda: handle.query(
                    names.QUERY_STATUS,
                    page,
                    result_type=PipelineStatus,
                    reject_condition=QueryRejectCondition.NOT_OPEN,
                )
            )
        except WorkflowQueryRejectedError as rejected:
            ended: WorkflowExecutionStatus | None = rejected.status
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # not a valid workflow id
                raise PipelineNotFound("pipeline not found") from None
            raise
        else:
            if status is not None:
                return Read(status)
            desc = await self._call(handle.describe)  # no worker answered: Temporal's records
            ended = desc.status if desc.status in _CLOSED else None
            if ended is None:
                return Read(recorded_status(desc, why=self._unanswered()))
        final: PipelineStatus | None = None
        if ended in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
            typed = self._client.get_workflow_handle(pipeline_id, result_type=PipelineStatus)
            final = await self._call(lambda: _final_status(typed))
            if final is not None and final.complete:
                return Read(final, ended=True)
        # cancelled or terminated through Temporal (the last state is the workflow's to tell), or
        # too large for the result to keep its stages
        status = await self._query(
            lambda: handle.query(names.QUERY_STATUS, page, result_type=PipelineStatus)
        )
        if status is None:
            return Read(recorded_status(await self._call(handle.describe), why=self._unanswered()))
        if final is not None and status.result_omitted:
            status = status.model_copy(update={"result": final.result, "result_omitted": False})
        return Read(status)

    async def get_status(self, pipeline_id: str) -> PipelineState:
        """The pipeline's state."""
        return (await self.get_pipeline(pipeline_id)).state

    async def get_history(
        self,
        pipeline_id: str,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order (``since``: at or after a time; ``after_id``: after
        an event id; ``limit``: at most this many).

        Raises:
            EngineUnavailable: No worker answered within the query timeout (the events are kept
                by the workflow; they can be read when a worker is back).
        """
        handle = self._handle(pipeline_id)
        events: list[Event] | None = await self._query(
            lambda: handle.query(
                names.QUERY_HISTORY,
                HistoryQuery(since=since, after_id=after_id, limit=limit),
                result_type=list[Event],
            ),
        )
        if events is None:
            raise EngineUnavailable(
                f"{self._unanswered()}; the pipeline's events can be read when one is back",
                retry_after_s=self._query_timeout_s,
            )
        if events:
            # Whoever read these events reads a status at least as new next (a client following
            # a stream reads the status once it saw the pipeline end).
            self._statuses.forget(pipeline_id)
        return events

    async def get_config(self, pipeline_id: str) -> PipelineConfig:
        """The config the pipeline runs (read from its workflow history; needs no worker)."""
        return await self._call(lambda: pipeline_config(self._client, pipeline_id))

    async def tenant_of(self, pipeline_id: str) -> str | None:
        """The owning tenant, read from the workflow's ``TenantId`` search attribute."""
        try:
            desc = await self._call(lambda: self._handle(pipeline_id).describe())
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # not a valid workflow id
                raise PipelineNotFound("pipeline not found") from None
            raise
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
        where: PipelineWhere | None = None,
    ) -> PipelinePage:
        """Pipelines from Temporal visibility, newest first; ``tenant_ids=None`` means all."""
        if tenant_ids is not None and not tenant_ids:
            return PipelinePage(items=[], next_page_token=None)
        query = _visibility_query(tenant_ids, state, where or PipelineWhere())
        token = decode_page_token(next_page_token)

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
            return PipelinePage(items=items, next_page_token=nxt)

        try:
            return await self._call(fetch)
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # a token Temporal cannot use
                raise invalid_page_token(exc.message) from None
            raise

    async def count_pipelines(
        self, *, tenant_ids: list[str] | None = None, where: PipelineWhere | None = None
    ) -> dict[str, int]:
        """How many pipelines are in each state (one visibility count per state, at once)."""
        if tenant_ids is not None and not tenant_ids:
            return {}
        filters = where or PipelineWhere()
        states = list(PipelineState)

        async def count(state: PipelineState) -> int:
            query = _visibility_query(tenant_ids, state, filters)
            return (await self._call(lambda: self._client.count_workflows(query))).count

        # Temporal groups counts by ExecutionStatus only, not by a custom search attribute.
        found = await asyncio.gather(*(count(state) for state in states))
        return {state.value: n for state, n in zip(states, found, strict=True) if n}

    async def watch_changes(self, pipeline_id: str) -> AsyncIterator[PipelineChange]:
        """Long-polls the workflow's history: a change per completed workflow task, or closing.

        Each change also forgets the statuses kept of the pipeline, so that a stream reading the
        status on a change reads it as of that change or later.
        """
        queue = QueueTimes()
        first = True
        batches = history_batches(self._client, pipeline_id)
        try:
            async for batch in batches:
                self._statuses.forget(pipeline_id)
                queue.add(batch.events)
                if first or batch.changes_pipeline:
                    first = False
                    yield PipelineChange(closed=batch.closed, queue_times=dict(queue.seconds))
        except RPCError as exc:
            raise self._mapped(exc) or exc from None
        finally:
            await batches.aclose()

    async def check_health(self, *, timeout_s: float) -> None:
        """Ask Temporal's health check, then whether the namespace has the search attributes the
        engine needs (registering the missing ones once, when allowed).

        Raises:
            SearchAttributesMissing: Some are missing (named in the message).
        """
        await self._call(
            lambda: self._client.service_client.check_health(timeout=timedelta(seconds=timeout_s))
        )
        if self._attributes_ok:
            return
        register, self._register_attributes = self._register_attributes, False
        missing = await self._call(
            lambda: search_attributes.ensure_search_attributes(self._client, register=register)
        )
        if missing:
            raise SearchAttributesMissing(self._client.namespace, missing)
        self._attributes_ok = True


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


def _visibility_query(
    tenant_ids: list[str] | None, state: PipelineState | None, where: PipelineWhere
) -> str:
    clauses = [f"WorkflowType = '{names.WORKFLOW_TYPE}'"]
    if tenant_ids is not None:
        quoted = ", ".join(_quote(t) for t in tenant_ids)
        clauses.append(f"{names.SA_TENANT_ID.name} IN ({quoted})")
    if state is not None:
        clauses.append(f"{names.SA_PIPELINE_STATE.name} = {_quote(state.value)}")
    if where.name_prefix:
        clauses.append(f"{names.SA_PIPELINE_NAME.name} STARTS_WITH {_quote(where.name_prefix)}")
    if where.started_after is not None:
        clauses.append(f"StartTime >= {_quote(where.started_after.isoformat())}")
    if where.started_before is not None:
        clauses.append(f"StartTime < {_quote(where.started_before.isoformat())}")
    return " AND ".join(clauses)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
