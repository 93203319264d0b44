"""A scripted REST server behind ``httpx.MockTransport``: the clients' only seam."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from pipeline_engine.events import Event

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """Answers requests from a queue of handlers per route, recording every request."""

    routes: dict[tuple[str, str], list[Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, path: str, *handlers: Handler) -> None:
        """Answer ``method path`` with these handlers in turn (the last one repeats)."""
        self.routes[(method, path)] = list(handlers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            queue = self.routes.get((request.method, _path(request)))
            if not queue:
                return httpx.Response(404, json={"error": "not_found", "message": "no route"})
            handler = queue.pop(0) if len(queue) > 1 else queue[0]
        return handler(request)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and _path(r) == path]


def _path(request: httpx.Request) -> str:
    """The path as sent (ids stay percent-encoded)."""
    return request.url.raw_path.decode().split("?")[0]


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


def fail_connect(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class SSEStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An SSE body that sends ``chunks`` and then, with ``drop``, breaks the connection."""

    def __init__(self, chunks: list[bytes], *, drop: bool = False) -> None:
        self._chunks = chunks
        self._drop = drop

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self._drop:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._drop:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def event(eid: int, kind: str, **payload: Any) -> Event:
    return Event(
        id=eid,
        type=kind,
        payload=payload,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        trace_id="t",
    )


def sse_message(evt: Event) -> bytes:
    return f"id: {evt.id}\nevent: {evt.type}\ndata: {evt.model_dump_json()}\n\n".encode()


def sse_response(messages: list[bytes], *, drop: bool = False) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=SSEStream(messages, drop=drop),
    )


def status_body(pid: str, state: str = "RUNNING") -> dict[str, Any]:
    return {"pipeline_id": pid, "name": "p", "state": state, "stages": []}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None
