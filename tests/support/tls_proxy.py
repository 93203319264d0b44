"""A TLS front for a local plaintext server (the Temporal dev server has no TLS of its own).

Terminates TLS (HTTP/2 by ALPN, optionally requiring a client certificate signed by ``ca``) on
127.0.0.1 and pipes the bytes to ``target_port``; it records the handshakes it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TlsProxy:
    """Listen with TLS on 127.0.0.1:<port> and forward to 127.0.0.1:``target_port``."""

    target_port: int
    cert: Path
    key: Path
    client_ca: Path | None = None
    port: int = 0
    client_subjects: list[str] = field(default_factory=list)
    _server: asyncio.base_events.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.set_alpn_protocols(["h2"])
        if self.client_ca is not None:
            ctx.load_verify_locations(self.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._context())
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        peer = client_w.get_extra_info("peercert") or {}
        for rdn in peer.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    self.client_subjects.append(value)
        upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        try:
            await asyncio.gather(pump(client_r, upstream_w), pump(upstream_r, client_w))
        finally:
            for writer in (client_w, upstream_w):
                with contextlib.suppress(Exception):
                    writer.close()
