"""Streams: the methods :class:`AsyncPipelineClient` has to follow a pipeline's events and
metrics over SSE, reconnecting after transient failures.

The hand-written half of the twin: ``_streams_sync.py`` is generated from this file by
``scripts/generate_sync_client.py`` (``make lint`` fails when the two drift). Write each
operation once, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import httpx
from httpx_sse import EventSource, ServerSentEvent

from pipeline_engine.client._base import (
    SSE_HEADERS,
    AsyncEndCheck,
    Deadline,
    error_from_response,
    stream_error,
    unreachable,
)
from pipeline_engine.client._reads_async import AsyncPipelineReads
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._subscription import AsyncEventCallback, AsyncSubscription
from pipeline_engine.errors import EngineUnavailable, PipelineError
from pipeline_engine.events import Event, MetricPoint

__all__ = ["AsyncStreamMethods"]


class AsyncStreamMethods(AsyncPipelineReads):
    """Events and metrics as they happen (mixed into the client; see it for ``timeout`` and
    ``retry_policy``)."""

    async def stream_events(
        self,
        pipeline_id: str,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncIterator[Event]:
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

        async def closed_early() -> bool:
            return False  # the stream ends after the terminal event; before it, reconnect

        async for sse in self._stream(
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

    async def subscribe_events(
        self,
        pipeline_id: str,
        callback: AsyncEventCallback,
        *,
        after_id: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncSubscription:
        """Call ``callback`` with every event of the pipeline, once and in order, as they happen.

        The callback (a function or a coroutine function) runs in a task on this event loop; keep
        plain functions quick. A dropped connection is resumed from the last event delivered.

        Args:
            pipeline_id: The pipeline.
            callback: Called with each :class:`Event`.
            after_id: Start after this event id (default: from the first event).
            timeout: Seconds for the existence check and each connection (``None``: the
                client's default).
            retry_policy: Reconnections after consecutive failures (``None``: the client's).

        Returns:
            A handle: ``stop()`` it, or ``await wait()`` for the end (after the terminal event).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        await self.get_status(pipeline_id, timeout=timeout, retry_policy=retry_policy)
        events = self.stream_events(
            pipeline_id, after_id=after_id, timeout=timeout, retry_policy=retry_policy
        )
        return AsyncSubscription(pipeline_id, callback, events)

    async def watch_metrics(
        self,
        pipeline_id: str,
        stage_id: str | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AsyncIterator[MetricPoint]:
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

        async def ended() -> bool:
            state = await self.get_status(pipeline_id, timeout=timeout)
            return state.is_terminal

        async for sse in self._stream(
            self._pipeline_url(pipeline_id, "metrics"),
            params={"stage_id": stage_id} if stage_id is not None else {},
            pipeline_id=pipeline_id,
            at_end=ended,
            timeout=timeout,
            retry_policy=retry_policy,
        ):
            if sse.event in ("metric", "message") and sse.data:
                yield MetricPoint.model_validate_json(sse.data)

    async def _stream(
        self,
        url: str,
        *,
        pipeline_id: str,
        at_end: AsyncEndCheck,
        params: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
    ) -> AsyncIterator[ServerSentEvent]:
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
                async with self._http.stream(
                    "GET",
                    url,
                    params=params,
                    headers=headers,
                    timeout=self._stream_timeout(timeout),
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        failure: PipelineError = error_from_response(
                            response, pipeline_id=pipeline_id
                        )
                        if not self._retryable(response):
                            raise failure
                    else:
                        failure = EngineUnavailable("stream closed before the pipeline ended")
                        broken = False
                        async for sse in EventSource(response).aiter_sse():
                            if sse.event == "error":
                                failure, broken = stream_error(sse.data), True
                                break
                            progressed = True
                            yield sse
                            last_event_id = sse.id or last_event_id
                        if not broken and await at_end():
                            return
            except httpx.TransportError as exc:
                failure = unreachable(self._base_url, exc)
            failures = 1 if progressed else failures + 1
            wait = self._retry_wait(policy, failures, Deadline(None), response)
            if wait is None:
                raise failure
            await asyncio.sleep(wait)
