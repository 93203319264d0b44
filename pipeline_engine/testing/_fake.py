"""The in-memory engine: the shared interpreter, local steps, the clients' methods and errors."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pipeline_engine._finite import refuse_non_finite
from pipeline_engine._ids import config_fingerprint, pipeline_id_for
from pipeline_engine._interpreter import LocalRuntime, PipelineRun, StepCall
from pipeline_engine.client._base import (
    DEFAULT_TIMEOUT_S,
    ConfigLike,
    config_to_wire,
    state_set,
)
from pipeline_engine.client._bridge import LoopThread
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._subscription import (
    AsyncEventCallback,
    AsyncSubscription,
    EventCallback,
    Subscription,
)
from pipeline_engine.dsl import PipelineConfig, parse_config
from pipeline_engine.errors import (
    InvalidConfig,
    InvalidInput,
    PipelineNotFound,
    Problem,
    TimeoutError,
)
from pipeline_engine.events import Event, MetricPoint
from pipeline_engine.pages import PipelinePage, PipelineSummary
from pipeline_engine.service import (
    check_same_request,
    check_version,
    closed_run_verdict,
    metric_points,
    no_tenant_config,
    page_of,
    validate_tenant_config,
)
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import StepRegistry, default_registry

__all__ = ["AsyncFakePipelineEngine", "FakePipelineEngine", "Hold", "RecordedCall"]

ErrorSpec = BaseException | type[BaseException] | str | None
_FINISHED = frozenset(
    {StageState.SUCCEEDED, StageState.FAILED, StageState.SKIPPED, StageState.CANCELLED}
)


@dataclass(frozen=True)
class RecordedCall:
    """One attempt of a step, as the fake engine saw it before running it.

    Attributes:
        pipeline_id: The pipeline.
        tenant_id: The pipeline's tenant.
        stage_id: The stage.
        step: The registered step name.
        attempt: Attempt number (from 1, counted across retries and ``retry_stage``).
        kwargs: The step's keyword arguments.
        previous: What the step received as ``previous``.
        input: The pipeline's input.
    """

    pipeline_id: str
    tenant_id: str | None
    stage_id: str
    step: str
    attempt: int
    kwargs: dict[str, Any]
    previous: Any
    input: Any


class Hold:
    """Keeps every attempt of a step (or stage) waiting until :meth:`release`.

    Returned by ``hold_step``. Thread-safe: release it from any thread.
    """

    def __init__(self, target: str, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop
        self._released = asyncio.Event()
        self._reached = asyncio.Event()
        self._reached_sync = threading.Event()
        self._released_flag = False
        self._count = 0

    @property
    def target(self) -> str:
        """The step name or stage id held."""
        return self._target

    @property
    def held(self) -> int:
        """How many attempts have reached the hold so far."""
        return self._count

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released_flag

    def release(self) -> None:
        """Let the held attempts (and every later one) run."""
        self._released_flag = True
        if _on_loop(self._loop):
            self._released.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._released.set)

    async def reached(self, timeout: float | None = None) -> None:
        """Wait (async) until an attempt is held.

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: No attempt reached the hold in time.
        """
        try:
            await asyncio.wait_for(self._reached.wait(), timeout)
        except builtins.TimeoutError:
            raise TimeoutError(
                f"no attempt of {self._target!r} was held within {timeout} s"
            ) from None

    def wait_reached(self, timeout: float | None = None) -> None:
        """Block until an attempt is held (from a thread other than the engine's loop).

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: No attempt reached the hold in time.
        """
        if not self._reached_sync.wait(timeout):
            raise TimeoutError(f"no attempt of {self._target!r} was held within {timeout} s")

    async def _hold(self) -> None:
        self._count += 1
        self._reached.set()
        self._reached_sync.set()
        await self._released.wait()

    def __repr__(self) -> str:
        return f"<Hold {self._target!r} held={self._count} released={self._released_flag}>"


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@dataclass
class _Failure:
    target: str
    times: int | None
    error: ErrorSpec

    def exception(self) -> BaseException:
        error = self.error
        if error is None:
            return RuntimeError(f"failure of {self.target!r} injected by the fake engine")
        if isinstance(error, str):
            return RuntimeError(error)
        if isinstance(error, type):
            return error(f"failure of {self.target!r} injected by the fake engine")
        return error


@dataclass
class _Entry:
    run: PipelineRun
    task: asyncio.Task[PipelineStatus]
    tenant_id: str | None
    name: str
    fingerprint: str
    created_at: datetime
    seq: int


@dataclass
class _TenantConfig:
    document: dict[str, Any]
    config: PipelineConfig
    settings: dict[str, Any] = field(default_factory=dict)


class _FakeRuntime(LocalRuntime):
    """``LocalRuntime`` that also tells the engine when an event may have been appended."""

    def __init__(self, registry: StepRegistry, signal: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(registry, **kwargs)
        self._signal = signal

    def notify(self) -> None:
        super().notify()
        asyncio.get_running_loop().call_soon(self._signal)


def _json_copy(value: Any) -> Any:
    """What the value becomes after a trip over the wire (and a TypeError if it cannot go)."""
    return json.loads(json.dumps(value))


class AsyncFakePipelineEngine:
    """An in-memory engine with the methods, semantics and errors of :class:`AsyncPipelineClient`.

    No server, no Temporal, no network: pipelines run on the same interpreter as the Temporal
    workflow, and their steps run in-process from ``registry`` with the same retry and timeout
    rules as the real activities. Use it to test client code offline::

        async with AsyncFakePipelineEngine() as engine:
            pid = await engine.create_pipeline(config, input={"n": 1})
            await engine.start_pipeline(pid)
            status = await engine.wait_for(pid)

    Test controls: :meth:`fail_step`, :meth:`hold_step`, :attr:`calls`.

    Args:
        registry: Where steps are looked up (default: the default registry).
        time_scale: Multiplies retry back-off waits (``0``, the default, retries at once).
        tenant_id: Default tenant of ``create_pipeline`` and ``list_pipelines``.
        timeout: Default timeout of the calls that wait (``wait_for``, ``cancel_pipeline``), as
            the clients' (``None``: no limit).
    """

    def __init__(
        self,
        registry: StepRegistry | None = None,
        *,
        time_scale: float = 0.0,
        tenant_id: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._registry = registry if registry is not None else default_registry
        self._timeout = timeout
        self._time_scale = time_scale
        self._tenant_id = tenant_id
        self._pipelines: dict[str, _Entry] = {}
        self._tenants: dict[str, _TenantConfig] = {}
        self._calls: list[RecordedCall] = []
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._seq = 0
        self._closed = False

    # ------------------------------------------------------------------ test controls
    def fail_step(self, target: str, *, times: int | None = 1, error: ErrorSpec = None) -> None:
        """Make the next attempts of a step (by name) or a stage (by id) fail.

        Args:
            target: A step name or a stage id.
            times: How many attempts fail (``None``: every one, until :meth:`clear_controls`).
            error: The exception raised: an instance, a class, a message (a ``RuntimeError``),
                or ``None`` for a ``RuntimeError``. Its class name is the stage error's ``type``
                (so ``non_retryable_errors`` apply).
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every attempt)")
        self._failures.append(_Failure(target, times, error))

    def hold_step(self, target: str) -> Hold:
        """Hold every attempt of a step (by name) or a stage (by id) until the hold is released.

        Args:
            target: A step name or a stage id.

        Returns:
            The :class:`Hold`: ``release()`` it; ``await reached()`` / ``wait_reached()`` to know
            an attempt is waiting on it.
        """
        hold = Hold(target, self._loop())
        self._holds.append(hold)
        return hold

    @property
    def calls(self) -> list[RecordedCall]:
        """Every step attempt made so far, in order."""
        return list(self._calls)

    def calls_of(self, target: str, pipeline_id: str | None = None) -> list[RecordedCall]:
        """The attempts of a step (by name) or stage (by id), optionally of one pipeline."""
        return [
            c
            for c in self._calls
            if target in (c.step, c.stage_id)
            and (pipeline_id is None or c.pipeline_id == pipeline_id)
        ]

    def clear_controls(self) -> None:
        """Forget injected failures, release every hold and clear :attr:`calls`."""
        self._failures.clear()
        for hold in self._holds:
            hold.release()
        self._holds.clear()
        self._calls.clear()

    async def _before_attempt(self, call: StepCall, attempt: int) -> None:
        self._calls.append(
            RecordedCall(
                pipeline_id=call.pipeline_id,
                tenant_id=call.tenant_id,
                stage_id=call.stage_id,
                step=call.step,
                attempt=attempt,
                kwargs=dict(call.kwargs),
                previous=call.previous,
                input=call.input,
            )
        )
        for hold in list(self._holds):
            if hold.target in (call.step, call.stage_id) and not hold.released:
                await hold._hold()
        for failure in self._failures:
            if failure.target in (call.step, call.stage_id):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                raise failure.exception()

    # ------------------------------------------------------------------ plumbing
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _signal(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _changed(self, timeout: float | None) -> None:
        fut: asyncio.Future[None] = self._loop().create_future()
        self._waiters.append(fut)
        with contextlib.suppress(builtins.TimeoutError):
            await asyncio.wait_for(fut, timeout)

    def _entry(self, pipeline_id: str) -> _Entry:
        entry = self._pipelines.get(pipeline_id)
        if entry is None:
            raise PipelineNotFound(f"pipeline {pipeline_id!r} not found")
        return entry

    @staticmethod
    def _closed_run(entry: _Entry) -> bool:
        return entry.task.done()

    # ------------------------------------------------------------------ create & commands
    async def create_pipeline(
        self,
        config: ConfigLike,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create a pipeline (in ``PENDING``); idempotent, exactly like the real engine.

        Args:
            config: A :class:`PipelineConfig`, a JSON-like mapping, or JSON text.
            input: The pipeline's input (any JSON value).
            tenant_id: The owning tenant (default: the engine's ``tenant_id``).
            idempotency_key: Makes the id depend on (tenant, key) only.
            timeout: Accepted for compatibility with the clients.
            retry_policy: Accepted for compatibility with the clients.

        Returns:
            The pipeline id (the same one the real engine would derive).

        Raises:
            InvalidConfig: The config is not valid against this engine's registry.
            Conflict: The idempotency key was used with another config or input.
        """
        tenant = tenant_id if tenant_id is not None else self._tenant_id
        return await self._create(config, input, tenant, idempotency_key, {}, start=False)

    async def _create(
        self,
        config: ConfigLike | PipelineConfig,
        input: Any,
        tenant_id: str | None,
        idempotency_key: str | None,
        settings: dict[str, Any],
        *,
        start: bool,
    ) -> str:
        try:
            plan = parse_config(_json_copy(config_to_wire(config)), registry=self._registry)
        except InvalidConfig as exc:  # paths name the request body, as the REST API's do
            raise InvalidConfig(
                exc.message,
                problems=[Problem("$.config" + p.path[1:], p.message) for p in exc.problems],
            ) from None
        refuse_non_finite(input=input, settings=settings)
        input = _json_copy(input)
        pid = pipeline_id_for(
            tenant_id=tenant_id,
            config=plan.config,
            input=input,
            idempotency_key=idempotency_key,
            settings=settings,
        )
        fingerprint = config_fingerprint(plan.config, input, settings)
        existing = self._pipelines.get(pid)
        if existing is not None:
            check_same_request(
                pid,
                fingerprint=fingerprint,
                stored=existing.fingerprint,
                idempotency_key=idempotency_key,
            )
            if start:
                existing.run.start()
            return pid
        runtime = _FakeRuntime(
            self._registry,
            self._signal,
            time_scale=self._time_scale,
            before_attempt=self._before_attempt,
        )
        run = PipelineRun(
            plan=plan,
            pipeline_id=pid,
            tenant_id=tenant_id,
            input=input,
            settings=settings,
            trace_id=uuid.uuid4().hex,
            runtime=runtime,
        )
        if start:
            run.start()
        task = self._loop().create_task(run.run(), name=f"fake-pipeline-{pid}")
        task.add_done_callback(lambda _t: self._signal())
        self._seq += 1
        self._pipelines[pid] = _Entry(
            run=run,
            task=task,
            tenant_id=tenant_id,
            name=plan.config.name,
            fingerprint=fingerprint,
            created_at=datetime.now(UTC),
            seq=self._seq,
        )
        self._signal()
        return pid

    async def start_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Start a ``PENDING`` pipeline; a repeat returns the current state.

        Raises:
            PipelineNotFound: No such pipeline.
        """
        return self._entry(pipeline_id).run.start()

    async def cancel_pipeline(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Cancel and return once stopped (``CANCELLED``); a repeat returns ``CANCELLED``.

        Raises:
            PipelineNotFound: No such pipeline.
            InvalidState: The pipeline already ended otherwise.
            TimeoutError: It did not stop within ``timeout`` seconds.
        """
        entry = self._entry(pipeline_id)
        if self._closed_run(entry):
            return closed_run_verdict("cancel", entry.run.state)
        timeout = self._timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(entry.run.cancel(reason), timeout)
        except builtins.TimeoutError:
            raise TimeoutError(
                f"cancel of {pipeline_id} did not complete within {timeout} s"
            ) from None

    async def retry_stage(
        self,
        pipeline_id: str,
        stage_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run a stage that failed for good; stages that succeeded are not run again.

        Raises:
            PipelineNotFound: No such pipeline.
            StageNotFound: The pipeline has no such stage.
            InvalidState: The stage did not fail for good, or the pipeline has ended.
        """
        entry = self._entry(pipeline_id)
        if self._closed_run(entry):
            return closed_run_verdict("retry_stage", entry.run.state)
        return entry.run.retry_stage(stage_id, reason)

    async def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str,
        *,
        stage_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema).

        Raises:
            PipelineNotFound: No such pipeline.
            InvalidInput: The payload does not match the schema (``problems`` says where).
            InvalidState: No input is waiting.
        """
        entry = self._entry(pipeline_id)
        refuse_non_finite(payload=payload)
        if not responder:
            raise InvalidInput(
                "responder is required",
                problems=[Problem("$.responder", "String should have at least 1 character")],
            )
        if self._closed_run(entry):
            return closed_run_verdict("submit_input", entry.run.state)
        return entry.run.submit_input(_json_copy(payload), responder, stage_id)

    async def process(
        self,
        tenant_id: str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create and start a pipeline from the tenant's config (see :meth:`put_tenant_config`).

        Raises:
            TenantNotFound: The tenant has no config.
        """
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise no_tenant_config(tenant_id)
        return await self._create(
            tenant.config, input, tenant_id, idempotency_key, dict(tenant.settings), start=True
        )

    # ------------------------------------------------------------------ reads
    async def get_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """The whole picture of the pipeline (a copy, as it would come over the wire).

        Raises:
            PipelineNotFound: No such pipeline.
        """
        status = self._entry(pipeline_id).run.status()
        return PipelineStatus.model_validate_json(status.model_dump_json(by_alias=True))

    async def get_status(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """The pipeline's state.

        Raises:
            PipelineNotFound: No such pipeline.
        """
        return self._entry(pipeline_id).run.state

    async def get_history(
        self,
        pipeline_id: str,
        since: datetime | None = None,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order (``since``: at or after a time; ``after_id``: after).

        Raises:
            PipelineNotFound: No such pipeline.
        """
        events = self._entry(pipeline_id).run.history(since=since, after_id=after_id)
        return [Event.model_validate_json(e.model_dump_json()) for e in events]

    async def list_pipelines(
        self,
        *,
        tenant_id: str | None = None,
        state: PipelineState | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelinePage:
        """One page of pipelines, newest first (filtered by tenant and state)."""
        tenant = tenant_id if tenant_id is not None else self._tenant_id
        wanted = PipelineState(state) if state is not None else None
        rows = sorted(self._pipelines.items(), key=lambda kv: kv[1].seq, reverse=True)
        items = [
            PipelineSummary(
                pipeline_id=pid,
                name=e.name,
                tenant_id=e.tenant_id,
                state=e.run.state.value,
                started_at=e.created_at,
                closed_at=e.run.status().finished_at if e.task.done() else None,
            )
            for pid, e in rows
            if (tenant is None or e.tenant_id == tenant)
            and (wanted is None or e.run.state is wanted)
        ]
        page, token = page_of(items, page_size=page_size or 50, token=page_token)
        return PipelinePage(items=page, next_page_token=token)

    async def wait_for(
        self,
        pipeline_id: str,
        states: PipelineState | str | Iterable[PipelineState | str] | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """Wait until the pipeline is in one of ``states`` (default: any terminal state).

        Args:
            pipeline_id: The pipeline.
            states: The states to wait for.
            timeout: Seconds to wait at most (``None``: the engine's default).
            retry_policy: Accepted for compatibility with the clients.

        Returns:
            The pipeline's status once it is in one of ``states``.

        Raises:
            TimeoutError: It did not get there in time.
            PipelineNotFound: No such pipeline.
        """
        wanted = state_set(states)
        entry = self._entry(pipeline_id)
        timeout = self._timeout if timeout is None else timeout
        loop = self._loop()
        end = None if timeout is None else loop.time() + timeout
        while entry.run.state not in wanted:
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                raise TimeoutError(
                    f"{pipeline_id} did not reach {'/'.join(sorted(wanted))} within {timeout} s "
                    f"(it is {entry.run.state.value})"
                )
            await self._changed(left)
        return await self.get_pipeline(pipeline_id)

    # ------------------------------------------------------------------ tenants & steps
    async def put_tenant_config(
        self,
        tenant_id: str,
        config: Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Store a tenant's config: ``{"pipeline_definition": <DSL element>, "settings": {...}}``.

        As the REST API does, a ``version`` in the document must equal the stored version (``0``:
        the tenant must have no config yet).

        Returns:
            The stored config: ``tenant_id``, ``pipeline_definition``, ``settings``, ``version``,
            ``updated_at``.

        Raises:
            InvalidConfig: The definition is not valid.
            InvalidInput: ``tenant_id`` in the document differs from ``tenant_id``.
            Conflict: ``version`` is not the stored version.
        """
        document = _json_copy(dict(config))
        if document.get("tenant_id") not in (None, tenant_id):
            raise InvalidInput(
                "tenant_id in the body differs from the path",
                problems=[Problem("$.tenant_id", f"must equal the path's tenant {tenant_id!r}")],
            )
        current = self._tenants.get(tenant_id)
        stored_version = current.document["version"] if current else 0
        definition = document.get("pipeline_definition")
        settings = document.get("settings")
        parsed = validate_tenant_config(tenant_id, definition, settings, registry=self._registry)
        check_version(tenant_id, current=stored_version, expected=document.get("version"))
        stored = {
            "tenant_id": tenant_id,
            "pipeline_definition": definition,
            "settings": dict(settings or {}),
            "version": stored_version + 1,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        self._tenants[tenant_id] = _TenantConfig(stored, parsed, dict(settings or {}))
        return _json_copy(stored)  # type: ignore[no-any-return]

    async def get_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> dict[str, Any]:
        """A tenant's stored config.

        Raises:
            TenantNotFound: The tenant has no config.
        """
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise no_tenant_config(tenant_id)
        return _json_copy(tenant.document)  # type: ignore[no-any-return]

    async def delete_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Delete a tenant's config.

        Raises:
            TenantNotFound: The tenant has no config.
        """
        if self._tenants.pop(tenant_id, None) is None:
            raise no_tenant_config(tenant_id)

    async def list_steps(
        self, *, timeout: float | None = None, retry_policy: ClientRetryPolicy | None = None
    ) -> list[dict[str, Any]]:
        """The registered steps and their parameters."""
        return [
            {
                "name": d.name,
                "description": d.description,
                "is_async": d.is_async,
                "parameters": d.parameters_schema(),
            }
            for d in self._registry.definitions()
        ]

    # ------------------------------------------------------------------ streaming
    async def _next_events(self, pipeline_id: str, after_id: int) -> list[Event]:
        """Events after ``after_id``, waiting for some; ``[]`` once the run is over."""
        entry = self._entry(pipeline_id)
        while True:
            events = entry.run.history(after_id=after_id)
            if events:
                return [Event.model_validate_json(e.model_dump_json()) for e in events]
            if entry.task.done():
                return []
            await self._changed(None)

    async def stream_events(
        self,
        pipeline_id: str,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncIterator[Event]:
        """Iterate over the pipeline's events as they happen, ending after the terminal one.

        Raises:
            PipelineNotFound: No such pipeline.
        """
        self._entry(pipeline_id)
        last = after_id or 0
        while True:
            batch = await self._next_events(pipeline_id, last)
            if not batch:
                return
            for event in batch:
                last = event.id
                yield event
                if event.is_terminal:
                    return

    async def subscribe_events(
        self,
        pipeline_id: str,
        callback: AsyncEventCallback,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncSubscription:
        """Call ``callback`` with every event, once and in order (see the client's method).

        Raises:
            PipelineNotFound: No such pipeline.
        """
        self._entry(pipeline_id)
        return AsyncSubscription(
            pipeline_id, callback, self.stream_events(pipeline_id, after_id=after_id)
        )

    async def _next_metrics(
        self, pipeline_id: str, after_id: int, stage_id: str | None
    ) -> tuple[list[MetricPoint], int, bool]:
        """Points for the events after ``after_id``: (points, last event id, ended)."""
        batch = await self._next_events(pipeline_id, after_id)
        if not batch:
            return [], after_id, True
        status = self._entry(pipeline_id).run.status()
        points = metric_points(status, stage_id=stage_id)
        return points, batch[-1].id, any(e.is_terminal for e in batch)

    async def watch_metrics(
        self,
        pipeline_id: str,
        stage_id: str | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncIterator[MetricPoint]:
        """Iterate over metric points of the pipeline (or one stage) until the pipeline ends.

        Raises:
            PipelineNotFound: No such pipeline.
        """
        self._entry(pipeline_id)
        last = 0
        while True:
            points, last, ended = await self._next_metrics(pipeline_id, last, stage_id)
            for point in points:
                yield point
            if ended:
                return

    # ------------------------------------------------------------------ lifecycle
    async def aclose(self) -> None:
        """Stop every pipeline still running (their in-flight steps are cancelled)."""
        self._closed = True
        tasks = [e.task for e in self._pipelines.values() if not e.task.done()]
        for hold in self._holds:
            hold.release()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> AsyncFakePipelineEngine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class FakePipelineEngine:
    """A synchronous in-memory engine: a drop-in for :class:`PipelineClient` in tests.

    Runs an :class:`AsyncFakePipelineEngine` on a private event loop thread; every method blocks
    until the answer is there, with the same semantics and errors as the client. Event callbacks
    run on their subscription's own thread. Test controls: :meth:`fail_step`,
    :meth:`hold_step`, :attr:`calls`.

    Args:
        registry: Where steps are looked up (default: the default registry).
        time_scale: Multiplies retry back-off waits (``0``, the default, retries at once).
        tenant_id: Default tenant of ``create_pipeline`` and ``list_pipelines``.
        timeout: Default timeout of the calls that wait (``wait_for``, ``cancel_pipeline``).

    Example::

        with FakePipelineEngine() as engine:
            engine.fail_step("detection", times=1)
            pid = engine.create_pipeline(config)
            engine.start_pipeline(pid)
            assert engine.wait_for(pid).state is PipelineState.SUCCEEDED
    """

    def __init__(
        self,
        registry: StepRegistry | None = None,
        *,
        time_scale: float = 0.0,
        tenant_id: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._thread = LoopThread("fake-pipeline-engine")

        async def make() -> AsyncFakePipelineEngine:
            return AsyncFakePipelineEngine(
                registry, time_scale=time_scale, tenant_id=tenant_id, timeout=timeout
            )

        self._engine = self._thread.run(make())

    @property
    def async_engine(self) -> AsyncFakePipelineEngine:
        """The async engine behind this one (runs on a private loop; do not await it elsewhere)."""
        return self._engine

    # ------------------------------------------------------------------ test controls
    def fail_step(self, target: str, *, times: int | None = 1, error: ErrorSpec = None) -> None:
        """Make the next attempts of a step (by name) or a stage (by id) fail.

        Args:
            target: A step name or a stage id.
            times: How many attempts fail (``None``: every one, until :meth:`clear_controls`).
            error: The exception raised: an instance, a class, a message, or ``None``.
        """

        async def do() -> None:
            self._engine.fail_step(target, times=times, error=error)

        self._thread.run(do())

    def hold_step(self, target: str) -> Hold:
        """Hold every attempt of a step (by name) or a stage (by id) until released.

        Returns:
            The :class:`Hold`: ``release()`` it; ``wait_reached()`` blocks until an attempt waits.
        """

        async def do() -> Hold:
            return self._engine.hold_step(target)

        return self._thread.run(do())

    @property
    def calls(self) -> list[RecordedCall]:
        """Every step attempt made so far, in order."""
        return self._engine.calls

    def calls_of(self, target: str, pipeline_id: str | None = None) -> list[RecordedCall]:
        """The attempts of a step (by name) or stage (by id), optionally of one pipeline."""
        return self._engine.calls_of(target, pipeline_id)

    def clear_controls(self) -> None:
        """Forget injected failures, release every hold and clear :attr:`calls`."""

        async def do() -> None:
            self._engine.clear_controls()

        self._thread.run(do())

    # ------------------------------------------------------------------ operations
    def create_pipeline(
        self,
        config: ConfigLike,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create a pipeline (see :meth:`AsyncFakePipelineEngine.create_pipeline`)."""
        return self._thread.run(
            self._engine.create_pipeline(
                config, input=input, tenant_id=tenant_id, idempotency_key=idempotency_key
            )
        )

    def start_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Start a ``PENDING`` pipeline; a repeat returns the current state."""
        return self._thread.run(self._engine.start_pipeline(pipeline_id))

    def cancel_pipeline(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Cancel and return once stopped (see :meth:`AsyncFakePipelineEngine.cancel_pipeline`)."""
        return self._thread.run(self._engine.cancel_pipeline(pipeline_id, reason, timeout=timeout))

    def retry_stage(
        self,
        pipeline_id: str,
        stage_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run a stage that failed for good; what succeeded is not run again."""
        return self._thread.run(self._engine.retry_stage(pipeline_id, stage_id, reason))

    def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str,
        *,
        stage_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Give the waiting input element its payload (validated against its JSON Schema)."""
        return self._thread.run(
            self._engine.submit_input(pipeline_id, payload, responder, stage_id=stage_id)
        )

    def process(
        self,
        tenant_id: str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create and start a pipeline from the tenant's config."""
        return self._thread.run(
            self._engine.process(tenant_id, input, idempotency_key=idempotency_key)
        )

    def get_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """The whole picture of the pipeline."""
        return self._thread.run(self._engine.get_pipeline(pipeline_id))

    def get_status(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """The pipeline's state."""
        return self._thread.run(self._engine.get_status(pipeline_id))

    def get_history(
        self,
        pipeline_id: str,
        since: datetime | None = None,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order."""
        return self._thread.run(self._engine.get_history(pipeline_id, since, after_id=after_id))

    def list_pipelines(
        self,
        *,
        tenant_id: str | None = None,
        state: PipelineState | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelinePage:
        """One page of pipelines, newest first."""
        return self._thread.run(
            self._engine.list_pipelines(
                tenant_id=tenant_id, state=state, page_size=page_size, page_token=page_token
            )
        )

    def wait_for(
        self,
        pipeline_id: str,
        states: PipelineState | str | Iterable[PipelineState | str] | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """Wait until the pipeline is in one of ``states`` (default: any terminal state)."""
        return self._thread.run(self._engine.wait_for(pipeline_id, states, timeout=timeout))

    def put_tenant_config(
        self,
        tenant_id: str,
        config: Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Store a tenant's config."""
        return self._thread.run(self._engine.put_tenant_config(tenant_id, config))

    def get_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> dict[str, Any]:
        """A tenant's stored config."""
        return self._thread.run(self._engine.get_tenant_config(tenant_id))

    def delete_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Delete a tenant's config."""
        self._thread.run(self._engine.delete_tenant_config(tenant_id))

    def list_steps(
        self, *, timeout: float | None = None, retry_policy: ClientRetryPolicy | None = None
    ) -> list[dict[str, Any]]:
        """The registered steps and their parameters."""
        return self._thread.run(self._engine.list_steps())

    # ------------------------------------------------------------------ streaming
    def stream_events(
        self,
        pipeline_id: str,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Iterator[Event]:
        """Iterate over the pipeline's events as they happen, ending after the terminal one."""
        self.get_status(pipeline_id)

        def events() -> Iterator[Event]:
            last = after_id or 0
            while True:
                batch = self._thread.run(self._engine._next_events(pipeline_id, last))
                if not batch:
                    return
                for event in batch:
                    last = event.id
                    yield event
                    if event.is_terminal:
                        return

        return events()

    def subscribe_events(
        self,
        pipeline_id: str,
        callback: EventCallback,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Subscription:
        """Call ``callback`` with every event, once and in order, on the subscription's thread."""
        self.get_status(pipeline_id)
        engine, runner = self._engine, self._thread

        async def body(deliver: Callable[[Event], None]) -> None:
            last = after_id or 0
            while True:
                batch = await asyncio.wrap_future(
                    runner.submit(engine._next_events(pipeline_id, last))
                )
                if not batch:
                    return
                for event in batch:
                    deliver(event)
                    last = event.id
                    if event.is_terminal:
                        return

        return Subscription(pipeline_id, callback, body)

    def watch_metrics(
        self,
        pipeline_id: str,
        stage_id: str | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Iterator[MetricPoint]:
        """Iterate over metric points of the pipeline (or one stage) until the pipeline ends."""
        self.get_status(pipeline_id)

        def points() -> Iterator[MetricPoint]:
            last = 0
            while True:
                batch, last, ended = self._thread.run(
                    self._engine._next_metrics(pipeline_id, last, stage_id)
                )
                yield from batch
                if ended:
                    return

        return points()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop every pipeline still running and the engine's thread."""
        if self._thread.loop.is_closed():
            return
        self._thread.run(self._engine.aclose())
        self._thread.stop()

    def __enter__(self) -> FakePipelineEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
