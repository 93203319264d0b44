"""``PipelineClient``: the synchronous client of the Pipeline Engine REST API.

GENERATED from ``_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_async.py`` and run the script.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from pipeline_engine.client._base import (
    DEFAULT_TIMEOUT_S,
    SSE_HEADERS,
    BaseClient,
    ConfigLike,
    Deadline,
    EndCheck,
    TokenSource,
    config_to_wire,
    error_from_response,
    json_body,
    present,
    state_set,
    stream_error,
    tenant_config_body,
    unreachable,
)
from pipeline_engine.client._named_sync import NamedMethods
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._subscription import EventCallback, Subscription
from pipeline_engine.client._volume_sync import VolumeMethods
from pipeline_engine.errors import EngineUnavailable, PipelineError
from pipeline_engine.events import Event, MetricPoint
from pipeline_engine.pages import PipelinePage
from pipeline_engine.resources import PipelineCreated, StepInfo, TenantConfig
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage

__all__ = ["PipelineClient"]


class PipelineClient(NamedMethods, VolumeMethods, BaseClient):
    """Synchronous client of the Pipeline Engine REST API; the twin of :class:`AsyncPipelineClient`.

    Every operation is idempotent on the server, so transient failures (connection errors, 429,
    502, 503, 504) are retried per ``retry_policy``, honouring ``Retry-After``. Every method takes
    ``timeout`` (seconds for the whole call, retries included; ``None`` uses the client's) and
    ``retry_policy`` (``None`` uses the client's). Errors are the :mod:`pipeline_engine.errors`
    hierarchy, rebuilt from the server's error body.

    Args:
        base_url: The API's root URL, e.g. ``http://127.0.0.1:8000`` (default: the
            ``PIPELINE_ENGINE_URL`` environment variable, else ``http://127.0.0.1:8000``).
        token: A JWT, or a function returning one per request (default: the
            ``PIPELINE_ENGINE_TOKEN`` environment variable, e.g. a service account's token).
        timeout: Default timeout of one call in seconds, retries included (``None``: no limit).
        retry_policy: Default retry policy (default: :class:`ClientRetryPolicy`'s defaults).
        tenant_id: Default tenant of ``create_pipeline`` and ``list_pipelines``.
        headers: Extra headers sent with every request.
        transport: An ``httpx`` transport, e.g. ``httpx.MockTransport`` in tests.

    Example::

        with AsyncPipelineClient("http://127.0.0.1:8000", token=token) as client:
            pid = await client.create_pipeline(config, input={}, tenant_id="acme")
            await client.start_pipeline(pid)
            for point in client.watch_metrics(pid):
                print(point.name, point.value)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: TokenSource | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retry_policy: ClientRetryPolicy | None = None,
        tenant_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            timeout=timeout,
            retry_policy=retry_policy,
            tenant_id=tenant_id,
            headers=headers,
        )
        self._http = httpx.Client(transport=transport, follow_redirects=False)

    # ------------------------------------------------------------------ transport
    def _request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
        pipeline_id: str | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        deadline = self._deadline(timeout)
        sent = {**self._headers(json_content=json is not None), **(headers or {})}
        if content_type is not None:
            sent["Content-Type"] = content_type
        body = content if content is not None else json_body(json)
        policy = self._policy(retry_policy)
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = self._http.request(
                    method,
                    url,
                    content=body,
                    params=params,
                    headers=sent,
                    timeout=self._httpx_timeout(deadline),
                )
            except httpx.TimeoutException:
                raise deadline.timeout_error(f"{method} {url}") from None
            except httpx.TransportError as exc:
                failure: PipelineError = unreachable(self._base_url, exc)
            else:
                if response.is_success:
                    return self._decode(response)
                failure = error_from_response(response, pipeline_id=pipeline_id)
                if not self._retryable(response):
                    raise failure
            wait = self._retry_wait(policy, attempt, deadline, response)
            if wait is None:
                raise failure
            time.sleep(wait)

    # ------------------------------------------------------------------ create & commands
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
        """Create a pipeline (in ``PENDING``); idempotent.

        The id is derived from (tenant, config, input, idempotency key): repeating a call returns
        the same id and creates nothing (:meth:`create_pipeline_detailed` says when).

        Args:
            config: A :class:`PipelineConfig` (e.g. from :func:`pipeline_engine.pipeline`), a
                JSON-like mapping, or JSON text.
            input: The pipeline's input, any JSON value (every step sees it).
            tenant_id: The owning tenant (default: the client's ``tenant_id``).
            idempotency_key: Makes the id depend on (tenant, key) only.

        Returns:
            The pipeline id.

        Raises:
            InvalidConfig: The config is not valid (``problems`` lists each, with its JSON path).
            Conflict: The idempotency key was used with another config or input.
            PermissionDenied: The caller is not an operator of the tenant.
        """
        created = self.create_pipeline_detailed(
            config,
            input=input,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return created.pipeline_id

    def create_pipeline_detailed(
        self,
        config: ConfigLike,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineCreated:
        """:meth:`create_pipeline`, answering the id, the state and whether it was reused.

        Returns:
            ``reused`` is ``True`` when a pipeline with the same arguments existed: nothing was
            created, and ``state`` is that pipeline's current state.
        """
        body = {
            "config": config_to_wire(config),
            "input": input,
            **present(tenant_id=self._tenant(tenant_id), idempotency_key=idempotency_key),
        }
        data = self._request(
            "POST", self._url("pipelines"), json=body, timeout=timeout, retry_policy=retry_policy
        )
        return PipelineCreated.model_validate(data)

    def start_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Start a ``PENDING`` pipeline; a repeat returns the current state.

        Args:
            pipeline_id: The pipeline.

        Returns:
            The state after the call (``RUNNING`` unless it already moved on).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "start"),
            json={},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def cancel_pipeline(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Cancel a pipeline and return once it has stopped; a repeat returns ``CANCELLED``.

        Args:
            pipeline_id: The pipeline.
            reason: Why (recorded in the ``pipeline.cancel_requested`` event).

        Returns:
            ``CANCELLED``.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidState: The pipeline already ended otherwise (succeeded, failed for good).
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "cancel"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def retry_stage(
        self,
        pipeline_id: str,
        stage_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run a stage that failed for good; stages that succeeded are not run again.

        Args:
            pipeline_id: The pipeline (``FAILED``, within its ``failure_hold_s``).
            stage_id: The failed stage.
            reason: Why (recorded in the ``stage.retry_requested`` event).

        Returns:
            The state after the call (``RUNNING`` when the retry was accepted).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            StageNotFound: The pipeline has no such stage.
            InvalidState: The stage did not fail for good, or the pipeline has ended.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "stages", stage_id, "retry"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def retry_failed(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run every stage that failed for good, at once; stages that succeeded are not run
        again (``POST /v1/pipelines/{id}/retry``, the ``retry_failed`` update).

        Args:
            pipeline_id: The pipeline (``FAILED``, within its ``failure_hold_s``).
            reason: Why (recorded in each ``stage.retry_requested`` event).

        Returns:
            The state after the call (``RUNNING`` when the retry was accepted).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidState: No stage is held in FAILED, or the pipeline has ended.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "retry"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

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
        """Give a ``WAITING_INPUT`` pipeline the payload its input element waits for.

        Args:
            pipeline_id: The pipeline.
            payload: The payload; it must satisfy the input element's JSON Schema.
            responder: Who answers (recorded in the ``pipeline.input_received`` event).
            stage_id: The input element, needed only when several wait at once.

        Returns:
            The state after the call.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidInput: The payload does not match the schema (``problems`` says where).
            InvalidState: No input is waiting.
        """
        body: dict[str, Any] = {"payload": payload, "responder": responder}
        if stage_id is not None:
            body["stage_id"] = stage_id
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "input"),
            json=body,
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    # ------------------------------------------------------------------ reads
    def get_pipeline(
        self,
        pipeline_id: str,
        *,
        page: StagePage | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """The whole picture: state, stages (state, attempts, error, result), result, error.

        A pipeline with many stages answers with counts by state (``stage_counts``) and a page of
        its stages (the first 1,000 by default; ``stages_total`` say how many match).

        Args:
            pipeline_id: The pipeline.
            page: Which stages to return (offset, limit, state filter).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "GET",
            self._pipeline_url(pipeline_id),
            params=None
            if page is None
            else present(
                stage_offset=page.offset,
                stage_limit=page.limit,
                stage_state=page.state.value if page.state else None,
            ),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineStatus.model_validate(data)

    def get_result(
        self,
        pipeline_id: str,
        *,
        stage_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Any:
        """The whole result of the pipeline, or of one stage, however large.

        In :meth:`get_pipeline` a result of 32 KiB or more (the server's
        ``PIPELINE_ENGINE_PAYLOAD_THRESHOLD_BYTES``) comes as
        ``{"$ref": "<path>", "size_bytes": N}``, so a status read stays small; this reads the value.

        Args:
            pipeline_id: The pipeline.
            stage_id: A stage of it; ``None`` for the pipeline's own result.

        Returns:
            The result (``None`` until the pipeline or stage succeeded).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            StageNotFound: The pipeline has no stage ``stage_id``.
        """
        rest = ("result",) if stage_id is None else ("stages", stage_id, "result")
        return self._request(
            "GET",
            self._pipeline_url(pipeline_id, *rest),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )

    def get_status(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """The pipeline's state.

        Args:
            pipeline_id: The pipeline.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        status = self.get_pipeline(
            pipeline_id, page=StagePage(limit=0), timeout=timeout, retry_policy=retry_policy
        )
        return status.state

    def get_history(
        self,
        pipeline_id: str,
        since: datetime | None = None,
        *,
        after_id: int | None = None,
        limit: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order.

        Args:
            pipeline_id: The pipeline.
            since: Keep events at or after this time.
            after_id: Keep events after this event id.
            limit: At most this many events (page on with the last id as ``after_id``).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "GET",
            self._pipeline_url(pipeline_id, "history"),
            params=present(
                since=since.isoformat() if since else None, after_id=after_id, limit=limit
            ),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return [Event.model_validate(e) for e in data]

    def list_pipelines(
        self,
        *,
        tenant_id: str | None = None,
        state: PipelineState | str | None = None,
        name: str | None = None,
        pipeline: str | None = None,
        version: int | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelinePage:
        """One page of pipelines, newest first.

        Args:
            tenant_id: Only this tenant's (default: the client's ``tenant_id``; else all the
                caller may see).
            state: Only pipelines in this state.
            name: Only pipelines whose config name starts with this.
            pipeline: Only runs of this stored pipeline (``default``: the tenant config's).
            version: Only runs of this version (with ``pipeline``: of that pipeline).
            page_size: Items per page.
            page_token: ``next_page_token`` of the previous page.
        """
        data = self._request(
            "GET",
            self._url("pipelines"),
            params=present(
                tenant_id=self._tenant(tenant_id),
                state=PipelineState(state).value if state is not None else None,
                name=name or None,
                pipeline=pipeline,
                version=version,
                page_size=page_size,
                page_token=page_token,
            ),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelinePage.model_validate(data)

    def wait_for(
        self,
        pipeline_id: str,
        states: PipelineState | str | Iterable[PipelineState | str] | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """Wait until the pipeline is in one of ``states``.

        Args:
            pipeline_id: The pipeline.
            states: The states to wait for (default: any of ``SUCCEEDED``, ``FAILED``,
                ``CANCELLED``).
            timeout: Seconds to wait at most (``None``: the client's default).
            retry_policy: Retries of transient failures of each poll (``None``: the client's).

        Returns:
            The pipeline's status once it is in one of ``states``.

        Raises:
            TimeoutError: It did not get there in time.
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        wanted = state_set(states)
        deadline = self._deadline(timeout)
        interval = 0.05
        while True:
            left = deadline.remaining()
            status = self.get_pipeline(
                pipeline_id,
                timeout=left if left is not None else self._timeout,
                retry_policy=retry_policy,
            )
            if status.state in wanted:
                return status
            if not deadline.allows(interval):
                raise deadline.timeout_error(
                    f"waiting for {pipeline_id} to reach {'/'.join(sorted(wanted))} "
                    f"(it is {status.state.value})"
                )
            time.sleep(interval)
            interval = min(interval * 1.5, 1.0)

    # ------------------------------------------------------------------ tenants & steps
    def put_tenant_config(
        self,
        tenant_id: str,
        config: TenantConfig | Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TenantConfig:
        """Store a tenant's config (``{"pipeline_definition", "settings"}``, seed 2 shape).

        Args:
            tenant_id: The tenant.
            config: The tenant config document, or a :class:`TenantConfig` read earlier (its
                ``version`` makes the write conditional: a stale one raises ``Conflict``).
                Optional ``priority`` (1 first .. 5 last) and ``fairness_weight`` order the
                tenant's pipelines when tasks back up in Temporal.

        Returns:
            The stored config (with its new ``version``).

        Raises:
            InvalidConfig: The definition is not valid.
            InvalidInput: ``priority`` or ``fairness_weight`` is out of range.
            Conflict: ``version`` in ``config`` is not the stored one.
        """
        data = self._request(
            "PUT",
            self._url("tenants", tenant_id, "config"),
            json=tenant_config_body(config),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TenantConfig.model_validate(data)

    def get_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TenantConfig:
        """A tenant's stored config.

        Args:
            tenant_id: The tenant.

        Raises:
            TenantNotFound: The tenant has no config.
        """
        data = self._request(
            "GET",
            self._url("tenants", tenant_id, "config"),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TenantConfig.model_validate(data)

    def delete_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Delete a tenant's config.

        Args:
            tenant_id: The tenant.
        """
        self._request(
            "DELETE",
            self._url("tenants", tenant_id, "config"),
            timeout=timeout,
            retry_policy=retry_policy,
        )

    def list_steps(
        self, *, timeout: float | None = None, retry_policy: ClientRetryPolicy | None = None
    ) -> list[StepInfo]:
        """The steps registered on the server and their parameters."""
        data = self._request("GET", self._url("steps"), timeout=timeout, retry_policy=retry_policy)
        return [StepInfo.model_validate(item) for item in data]

    # ------------------------------------------------------------------ streaming
    def stream_events(
        self,
        pipeline_id: str,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Iterator[Event]:
        """Iterate over the pipeline's events as they happen, ending after the terminal one.

        Every event is yielded once and in order. A dropped connection is resumed from the last
        event received (``Last-Event-ID``), not from the start.

        Args:
            pipeline_id: The pipeline.
            after_id: Start after this event id (default: from the first event).
            timeout: Seconds to wait for each connection (``None``: the client's default).
            retry_policy: Reconnections after consecutive failures (``None``: the client's).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            EngineUnavailable: The stream could not be resumed within the retry policy.
        """
        last = after_id or 0

        def closed_early() -> bool:
            return False  # the stream ends after the terminal event; before it, reconnect

        for sse in self._stream(
            self._pipeline_url(pipeline_id, "events"),
            pipeline_id=pipeline_id,
            last_event_id=str(last) if last else None,
            at_end=closed_early,
            timeout=timeout,
            retry_policy=retry_policy,
        ):
            if not sse.data:
                continue
            event = Event.model_validate_json(sse.data)
            if event.id <= last:
                continue
            last = event.id
            yield event
            if event.is_terminal:
                return

    def subscribe_events(
        self,
        pipeline_id: str,
        callback: EventCallback,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Subscription:
        """Call ``callback`` with every event of the pipeline, once and in order, as they happen.

        The callback runs on the subscription's own thread, never on the
        caller's. A dropped connection is resumed from the last event delivered.

        Args:
            pipeline_id: The pipeline.
            callback: Called with each :class:`Event`.
            after_id: Start after this event id (default: from the first event).
            timeout: Seconds for the existence check and each connection (``None``: the
                client's default).
            retry_policy: Reconnections after consecutive failures (``None``: the client's).

        Returns:
            A handle: ``stop()`` it, or ``wait()`` for the end (after the terminal event).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        self.get_status(pipeline_id, timeout=timeout, retry_policy=retry_policy)
        events = self.stream_events(
            pipeline_id, after_id=after_id, timeout=timeout, retry_policy=retry_policy
        )
        return Subscription(pipeline_id, callback, events)

    def watch_metrics(
        self,
        pipeline_id: str,
        stage_id: str | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Iterator[MetricPoint]:
        """Iterate over metric points of the pipeline (or one stage) until the pipeline ends.

        Metric points are samples: after a reconnection some may repeat.

        Args:
            pipeline_id: The pipeline.
            stage_id: Only this stage's metrics.
            timeout: Seconds to wait for each connection (``None``: the client's default).
            retry_policy: Reconnections after consecutive failures (``None``: the client's).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """

        def ended() -> bool:
            state = self.get_status(pipeline_id, timeout=timeout)
            return state.is_terminal

        for sse in self._stream(
            self._pipeline_url(pipeline_id, "metrics"),
            params={"stage_id": stage_id} if stage_id is not None else {},
            pipeline_id=pipeline_id,
            at_end=ended,
            timeout=timeout,
            retry_policy=retry_policy,
        ):
            if sse.event in ("metric", "message") and sse.data:
                yield MetricPoint.model_validate_json(sse.data)

    def _stream(
        self,
        url: str,
        *,
        pipeline_id: str,
        at_end: EndCheck,
        params: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
    ) -> Iterator[ServerSentEvent]:
        """The messages of an SSE stream, reconnecting after transient failures.

        A reconnection sends the id of the last message received as ``Last-Event-ID``. A stream
        that ends cleanly is over if ``at_end()`` says so, else it is reconnected; consecutive
        failures count against ``retry_policy`` (a message received resets the count).
        """
        policy = self._policy(retry_policy)
        failures = 0
        while True:
            headers = {**self._headers(), **SSE_HEADERS}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            response: httpx.Response | None = None
            progressed = False
            try:
                with self._http.stream(
                    "GET",
                    url,
                    params=params,
                    headers=headers,
                    timeout=self._stream_timeout(timeout),
                ) as response:
                    if not response.is_success:
                        response.read()
                        failure: PipelineError = error_from_response(
                            response, pipeline_id=pipeline_id
                        )
                        if not self._retryable(response):
                            raise failure
                    else:
                        failure = EngineUnavailable("stream closed before the pipeline ended")
                        broken = False
                        for sse in EventSource(response).iter_sse():
                            if sse.event == "error":
                                failure, broken = stream_error(sse.data), True
                                break
                            progressed = True
                            yield sse
                            last_event_id = sse.id or last_event_id
                        if not broken and at_end():
                            return
            except httpx.TransportError as exc:
                failure = unreachable(self._base_url, exc)
            failures = 1 if progressed else failures + 1
            wait = self._retry_wait(policy, failures, Deadline(None), response)
            if wait is None:
                raise failure
            time.sleep(wait)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> PipelineClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
