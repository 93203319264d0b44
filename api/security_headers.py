"""Security headers on every response: a Content-Security-Policy, no framing, no sniffing, no
referrer.

The console and the API docs load nothing but this server's own files (vendored), so scripts,
fetches and frames are limited to ``'self'``; framing by any page is refused (clickjacking). The
docs pages (Swagger UI, ReDoc) start with one inline script FastAPI writes:
:func:`with_inline_scripts` allows exactly that script by its SHA-256, never inline scripts in
general.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeadersMiddleware", "with_inline_scripts"]

_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",  # the vendored Swagger UI / ReDoc / cytoscape styles
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",  # ReDoc's search worker
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = _policy(_DIRECTIVES)
"""The policy of every response that sets none of its own."""

_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def with_inline_scripts(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a policy that also allows its own inline scripts (by digest)."""
    body = bytes(page.body).decode()
    digests = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(body)
    ]
    directives = dict(_DIRECTIVES)
    directives["script-src"] = " ".join(["'self'", *digests])
    page.headers["Content-Security-Policy"] = _policy(directives)
    return page


class SecurityHeadersMiddleware:
    """Adds the headers above to each HTTP response that does not carry them already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)
