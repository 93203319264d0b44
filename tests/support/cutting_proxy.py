"""A TCP proxy in front of a local server that cuts chosen connections mid-response.

Used to prove that event streams resume after a dropped connection. It only listens on and
connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class CuttingProxy:
    """Forward 127.0.0.1:<port> to ``target_port``; the first ``cuts`` connections whose request
    line contains ``path_part`` are closed after ``after_bytes`` bytes of response."""

    target_port: int
    path_part: str
    after_bytes: int
    cuts: int = 1
    requests: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

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
        upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        head = await client_r.readuntil(b"\r\n\r\n")
        request = head.decode("latin-1")
        self.requests.append(request)
        cut = self.path_part in request.split("\r\n", 1)[0] and self.cuts > 0
        if cut:
            self.cuts -= 1
        upstream_w.write(head)
        await upstream_w.drain()

        async def pump_up() -> None:
            with contextlib.suppress(Exception):
                while data := await client_r.read(65536):
                    upstream_w.write(data)
                    await upstream_w.drain()

        up = asyncio.create_task(pump_up())
        sent = 0
        try:
            while data := await upstream_r.read(1 if cut else 65536):
                client_w.write(data)
                await client_w.drain()
                sent += len(data)
                if cut and sent >= self.after_bytes:
                    break
        except Exception:
            pass
        finally:
            up.cancel()
            for writer in (client_w, upstream_w):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
