"""Reject request bodies over a limit with 413 before anything parses them (chunked too)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline_engine.errors import PayloadTooLarge

__all__ = ["BodyLimitMiddleware"]

_MIN_DRAIN_BYTES = 16 * 1024 * 1024
_DRAIN_TIMEOUT_S = 10.0


class BodyLimitMiddleware:
    """Pure ASGI middleware: reads the whole body first, counting, then replays it to the app.

    A ``Content-Length`` over the limit is refused without reading; a chunked body is refused as
    soon as the bytes received pass the limit. Requests without a body pass straight through, so
    streaming responses (SSE) are unaffected. Before the 413 is sent, the rest of the upload is
    read and dropped (up to a budget and a time limit, never parsed), so that a client still
    sending can read the answer instead of seeing its connection reset; a client that asked for
    ``Expect: 100-continue`` gets the 413 without sending its body.

    Args:
        app: The wrapped application.
        max_body_bytes: Largest body accepted.
        streamed: Requests it lets by unread (their route streams the body, with its own limit).
        setting: The setting of the limit, named in the 413 (default: ``MAX_BODY_BYTES``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        streamed: Callable[[Scope], bool] | None = None,
        setting: str = "PIPELINE_ENGINE_MAX_BODY_BYTES",
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._streamed = streamed
        self._setting = setting
        self._drain_budget = max(_MIN_DRAIN_BYTES, 4 * max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or (self._streamed is not None and self._streamed(scope)):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length is None and not chunked:
            await self.app(scope, receive, send)
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _reject(send, 400, "bad_request", "invalid Content-Length")
                return
            if declared > self.max_body_bytes:
                expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
                if declared <= self._drain_budget and not expects_continue:
                    await _drain(receive, self._drain_budget)
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                if message.get("more_body", False):
                    await _drain(receive, self._drain_budget)
                await self._too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, send: Send) -> None:
        err = PayloadTooLarge(
            f"request body is larger than {self.max_body_bytes} bytes ({self._setting})",
            details=[{"max_body_bytes": self.max_body_bytes, "setting": self._setting}],
        )
        await _reject(send, 413, err.code, err.message, err.details, close=True)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a refused body: at most ``budget`` bytes, for a bounded time."""

    async def drain() -> None:
        left = budget
        while left > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(drain(), _DRAIN_TIMEOUT_S)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: list[object] | None = None,
    *,
    close: bool = False,
) -> None:
    payload = json.dumps({"error": code, "message": message, "details": details or []}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
