"""In-memory ``httpx`` transports that serve an ASGI app (the real REST API) without a socket.

Unlike ``httpx.ASGITransport``, responses stream: the body is handed over as the app sends it,
so Server-Sent Events arrive live, and closing the response disconnects the app's request. The
sync transport drives the app on one event-loop thread (one per fake engine, not per stream).
Faults can be injected: canned error responses (an auth error, a 503…) and dropped streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx

from pipeline_engine._loop_thread import LoopThread

__all__ = ["AppTransport", "Faults", "SyncAppTransport"]

T = TypeVar("T")
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_END = object()


@dataclass
class _Fault:
    respond: App | None  # a canned response, or None: drop the stream
    times: int
    match: str | None
    after_messages: int = 0

    def applies(self, path: str) -> bool:
        return self.times > 0 and (self.match is None or self.match in path)


class Faults:
    """Faults the transport injects, in order, each for a number of matching requests."""

    def __init__(self) -> None:
        self._faults: list[_Fault] = []

    def respond(self, app: App, *, times: int, match: str | None) -> None:
        """Answer the next ``times`` requests whose path contains ``match`` with ``app``."""
        self._faults.append(_Fault(app, times, match))

    def drop(self, *, after_messages: int, times: int, match: str | None) -> None:
        """Cut the next ``times`` event streams after ``after_messages`` messages."""
        self._faults.append(_Fault(None, times, match, after_messages))

    def clear(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    def take(self, path: str, *, stream: bool) -> _Fault | None:
        for fault in self._faults:
            if fault.applies(path) and (fault.respond is not None or stream):
                fault.times -= 1
                return fault
        return None


class _Exchange:
    """One request driven through the ASGI app, its response handed over as it is sent."""

    def __init__(self, app: App, request: httpx.Request, body: bytes, drop_after: int | None):
        self._app = app
        self._request = request
        self._body = body
        self._sent: asyncio.Queue[Any] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._drop_after = drop_after

    def _scope(self) -> dict[str, Any]:
        url = self._request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self._request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in self._request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (url.host, url.port or 80),
        }

    async def _receive(self) -> dict[str, Any]:
        if self._body is not None:
            body, self._body = self._body, None  # type: ignore[assignment]
            return {"type": "http.request", "body": body, "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        await self._sent.put(message)

    async def _serve(self) -> None:
        try:
            await self._app(self._scope(), self._receive, self._send)
        except Exception as exc:  # the app's error middleware has answered 500 already
            await self._sent.put(exc)
        finally:
            await self._sent.put(_END)

    async def open(self, timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Start the app; return the status and headers once it sends them."""
        self._task = asyncio.get_running_loop().create_task(self._serve())
        try:
            first = await asyncio.wait_for(self._sent.get(), timeout)
        except TimeoutError:
            await self.close()
            raise httpx.ReadTimeout("no response in time", request=self._request) from None
        if isinstance(first, dict) and first["type"] == "http.response.start":
            return first["status"], list(first.get("headers", []))
        await self.close()
        raise httpx.RemoteProtocolError("the app sent no response", request=self._request)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as the app sends it; a dropped stream ends with ``httpx.ReadError``."""
        messages = 0
        while True:
            message = await self._sent.get()
            if message is _END or isinstance(message, Exception):
                return
            chunk = bytes(message.get("body", b""))
            if chunk:
                messages += chunk.count(b"\n\n") + chunk.count(b"\r\n\r\n")
                yield chunk
                if self._drop_after is not None and messages >= self._drop_after:
                    raise httpx.ReadError("stream dropped (fault injected)", request=self._request)
            if not message.get("more_body", False):
                return

    async def close(self) -> None:
        """Disconnect: the app sees ``http.disconnect`` and its task ends."""
        self._disconnected.set()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _exchange(
    app: App, faults: Faults, request: httpx.Request, body: bytes
) -> tuple[_Exchange, int, list[tuple[bytes, bytes]]]:
    stream = "text/event-stream" in request.headers.get("accept", "")
    fault = faults.take(request.url.path, stream=stream)
    target = fault.respond if fault is not None and fault.respond is not None else app
    drop = fault.after_messages if fault is not None and fault.respond is None else None
    exchange = _Exchange(target, request, body, drop)
    timeout = request.extensions.get("timeout", {}).get("read")
    status, headers = await exchange.open(timeout)
    return exchange, status, headers


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._exchange.chunks():
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.close()


class AppTransport(httpx.AsyncBaseTransport):
    """Serves an ASGI app to an ``httpx.AsyncClient`` on the caller's event loop.

    Args:
        app: The ASGI app.
        faults: Faults to inject.
        ready: Awaited before the first request (e.g. to run the app's lifespan).
    """

    def __init__(
        self, app: App, faults: Faults, ready: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._app = app
        self._faults = faults
        self._ready = ready

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._ready is not None:
            await self._ready()
        body = await request.aread()
        exchange, status, headers = await _exchange(self._app, self._faults, request, body)
        return httpx.Response(status, headers=headers, stream=_AsyncBody(exchange))


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, runner: LoopThread) -> None:
        self._exchange = exchange
        self._runner = runner
        self._chunks = exchange.chunks()

    async def _next(self) -> bytes | None:
        return await anext(self._chunks, None)

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._runner.run(self._next())) is not None:
            yield chunk

    def close(self) -> None:
        if not self._runner.loop.is_closed():
            self._runner.run(self._exchange.close())


class SyncAppTransport(httpx.BaseTransport):
    """Serves an ASGI app to an ``httpx.Client``, driving it on one event-loop thread.

    Args:
        app: The ASGI app.
        faults: Faults to inject.
        runner: The loop thread the app runs on.
        ready: Awaited on that loop before the first request.
    """

    def __init__(
        self,
        app: App,
        faults: Faults,
        runner: LoopThread,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._async = AppTransport(app, faults, ready)
        self._runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[_Exchange, int, list[tuple[bytes, bytes]]]:
            if self._async._ready is not None:
                await self._async._ready()
            return await _exchange(self._async._app, self._async._faults, request, body)

        exchange, status, headers = self._runner.run(send())
        return httpx.Response(status, headers=headers, stream=_SyncBody(exchange, self._runner))
