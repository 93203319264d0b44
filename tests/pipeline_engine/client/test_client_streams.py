"""Server-Sent Events: every event once and in order, resumed from Last-Event-ID; metrics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from pipeline_engine import (
    AsyncPipelineClient,
    ClientRetryPolicy,
    EngineUnavailable,
    Event,
    InvalidState,
    PipelineClient,
    PipelineNotFound,
)
from tests.pipeline_engine.client.mock_server import (
    Recorder,
    SSEStream,
    event,
    reply,
    sse_message,
    sse_response,
    status_body,
)

FAST = ClientRetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02, jitter=0)
PID = "pl-0123"
EVENTS = f"/v1/pipelines/{PID}/events"
METRICS = f"/v1/pipelines/{PID}/metrics"

E1 = event(1, "pipeline.created")
E2 = event(2, "pipeline.started")
E3 = event(3, "stage.scheduled", stage_id="a", step="a", attempt=1)
E4 = event(4, "pipeline.succeeded", state="SUCCEEDED")


def dropped_then_resumed(server: Recorder) -> None:
    """First connection: events 1 and 2, then the connection breaks; then the rest."""
    server.on(
        "GET",
        EVENTS,
        lambda r: sse_response([sse_message(E1), b": keep-alive\n\n", sse_message(E2)], drop=True),
        lambda r: sse_response([sse_message(E2), sse_message(E3), sse_message(E4)]),
    )
    server.on("GET", f"/v1/pipelines/{PID}", reply(200, status_body(PID)))


def resumed_from(server: Recorder) -> list[str | None]:
    return [r.headers.get("last-event-id") for r in server.calls("GET", EVENTS)]


async def test_async_stream_resumes_after_a_dropped_connection(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    dropped_then_resumed(server)
    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        got = [e.id async for e in client.stream_events(PID)]
    assert got == [1, 2, 3, 4]  # once each, in order, though event 2 was sent twice
    assert resumed_from(server) == [None, "2"]
    assert server.calls("GET", EVENTS)[0].headers["accept"] == "text/event-stream"


async def test_async_subscription_delivers_to_sync_and_async_callbacks(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    dropped_then_resumed(server)
    got: list[int] = []

    async def on_event(evt: Event) -> None:
        await asyncio.sleep(0)
        got.append(evt.id)

    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        sub = await client.subscribe_events(PID, on_event)
        await sub.wait(timeout=5)
        assert got == [1, 2, 3, 4] and sub.last_event_id == 4 and not sub.running

        dropped_then_resumed(server)
        plain: list[int] = []
        sub = await client.subscribe_events(PID, lambda e: plain.append(e.id), after_id=1)
        await sub.wait(timeout=5)
        assert plain == [2, 3, 4]


def test_sync_subscription_runs_callbacks_off_the_callers_thread(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    dropped_then_resumed(server)
    got: list[tuple[int, threading.Thread]] = []
    with PipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        sub = client.subscribe_events(PID, lambda e: got.append((e.id, threading.current_thread())))
        sub.wait(timeout=5)
    assert [i for i, _ in got] == [1, 2, 3, 4]
    assert all(t is not threading.current_thread() for _, t in got)
    assert resumed_from(server) == [None, "2"]
    assert sub.delivered == 4 and sub.exception() is None


def test_sync_stream_events_iterator(server: Recorder, transport: httpx.MockTransport) -> None:
    dropped_then_resumed(server)
    with PipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        assert [e.type for e in client.stream_events(PID)] == [
            "pipeline.created",
            "pipeline.started",
            "stage.scheduled",
            "pipeline.succeeded",
        ]


class Endless(SSEStream):
    """Sends one event, then nothing until cancelled."""

    def __init__(self) -> None:
        super().__init__([sse_message(E1)])

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse_message(E1)
        await asyncio.Event().wait()


def test_stop_ends_a_sync_subscription(server: Recorder, transport: httpx.MockTransport) -> None:
    server.on("GET", f"/v1/pipelines/{PID}", reply(200, status_body(PID)))
    server.on(
        "GET",
        EVENTS,
        lambda r: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Endless()
        ),
    )
    first = threading.Event()
    got: list[int] = []

    def on_event(evt: Event) -> None:
        got.append(evt.id)
        first.set()

    with PipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        sub = client.subscribe_events(PID, on_event)
        assert first.wait(5)
        assert sub.running
        sub.stop()
        assert sub.join(5)
    assert got == [1] and not sub.running
    sub.wait(0)  # a stop is not an error


def test_callback_errors_end_the_subscription(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    dropped_then_resumed(server)

    def on_event(evt: Event) -> None:
        if evt.id == 2:
            raise ValueError("callback broke")

    with PipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        sub = client.subscribe_events(PID, on_event)
        with pytest.raises(ValueError, match="callback broke"):
            sub.wait(5)
    assert sub.last_event_id == 1


async def test_unknown_pipeline(server: Recorder, transport: httpx.MockTransport) -> None:
    missing = {"error": "pipeline_not_found", "message": "no such pipeline"}
    server.on("GET", f"/v1/pipelines/{PID}", reply(404, missing))
    server.on("GET", EVENTS, reply(404, missing))
    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        with pytest.raises(PipelineNotFound):
            await client.subscribe_events(PID, print)
        with pytest.raises(PipelineNotFound):
            [e async for e in client.stream_events(PID)]


async def test_error_messages_in_the_stream(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    transient = b'event: error\ndata: {"error": "unavailable", "message": "Temporal down"}\n\n'
    fatal = b'event: error\ndata: {"error": "invalid_state", "message": "gone"}\n\n'
    server.on(
        "GET",
        EVENTS,
        lambda r: sse_response([sse_message(E1), transient]),
        lambda r: sse_response([sse_message(E2), fatal]),
    )
    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        got: list[int] = []
        with pytest.raises(InvalidState, match="gone"):
            async for evt in client.stream_events(PID):
                got.append(evt.id)
    assert got == [1, 2]
    assert resumed_from(server) == [None, "1"]


async def test_a_stream_that_keeps_failing_gives_up(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on("GET", EVENTS, lambda r: sse_response([], drop=True))
    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        with pytest.raises(EngineUnavailable):
            [e async for e in client.stream_events(PID)]
    assert len(server.calls("GET", EVENTS)) == FAST.max_attempts


def metric(name: str, value: float, stage: str | None = None) -> bytes:
    stage_json = f'"{stage}"' if stage else "null"
    data = (
        f'{{"pipeline_id": "{PID}", "stage_id": {stage_json}, "name": "{name}", '
        f'"value": {value}, "timestamp": "2026-01-01T00:00:00Z", "labels": {{}}}}'
    )
    return f"event: metric\ndata: {data}\n\n".encode()


async def test_watch_metrics_until_the_pipeline_ends(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on(
        "GET",
        METRICS,
        lambda r: sse_response([metric("attempts", 1, "a"), metric("duration_s", 0.5, "a")]),
        lambda r: sse_response([metric("attempts", 2, "a")]),
    )
    server.on(
        "GET",
        f"/v1/pipelines/{PID}",
        reply(200, status_body(PID, "RUNNING")),
        reply(200, status_body(PID, "SUCCEEDED")),
    )
    async with AsyncPipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        points = [(p.name, p.value) async for p in client.watch_metrics(PID, stage_id="a")]
    assert points == [("attempts", 1.0), ("duration_s", 0.5), ("attempts", 2.0)]
    assert [r.url.params["stage_id"] for r in server.calls("GET", METRICS)] == ["a", "a"]


def test_sync_watch_metrics(server: Recorder, transport: httpx.MockTransport) -> None:
    server.on("GET", METRICS, lambda r: sse_response([metric("progress", 1.0)]))
    server.on("GET", f"/v1/pipelines/{PID}", reply(200, status_body(PID, "SUCCEEDED")))
    with PipelineClient("http://t", transport=transport, retry_policy=FAST) as client:
        assert [p.name for p in client.watch_metrics(PID)] == ["progress"]


def test_sync_streaming_needs_only_a_sync_transport() -> None:
    """Sync streams are native (``httpx.Client.stream``): no event loop, no async transport."""
    messages = b"".join(sse_message(e) for e in (E1, E2, E3, E4))

    class SyncOnly(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == EVENTS:
                return httpx.Response(
                    200, headers={"content-type": "text/event-stream"}, content=messages
                )
            return httpx.Response(200, json=status_body(PID))

    threads = threading.active_count()
    with PipelineClient("http://t", transport=SyncOnly()) as client:
        assert client.get_status(PID).value == "RUNNING"
        assert [e.id for e in client.stream_events(PID)] == [1, 2, 3, 4]
        assert threading.active_count() == threads  # no loop thread per stream
        seen: list[int] = []
        client.subscribe_events(PID, lambda e: seen.append(e.id)).wait(timeout=10)
        assert seen == [1, 2, 3, 4]
