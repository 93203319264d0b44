"""Helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from pipeline_engine.settings import Settings
from workflows.dev_server import TemporalDevServer

SECRET = "test-secret-Qm7vX2pL9rT4wZ8kN3bF6hJ1sD5gA0cE-yU"  # random-looking: the entropy check
ID_SECRET = "test-ids-Hx5cV9nB2mQ7wZ4kL8pR1tJ6sD3gF0aEyU"  # the API's id key (workers: the same)


@dataclass
class ApiServer:
    """A running API."""

    base_url: str
    settings: Settings
    app: Any


def make_settings(temporal: TemporalDevServer | None, db_url: str, **extra: Any) -> Settings:
    """Production-like settings for a test API."""
    values: dict[str, Any] = {
        "env": "prod",
        "jwt_secret": SECRET,
        "id_secret": ID_SECRET,
        "temporal_address": temporal.address if temporal else "127.0.0.1:1",
        "task_queue": f"api-{uuid.uuid4().hex[:10]}",
        "database_url": db_url,
        "config_refresh_s": 0.3,
        "sse_ping_s": 5.0,
        "payload_store": "",
    }
    values.update(extra)
    return Settings(**values)


async def start_uvicorn(
    app: Any, port: int, *, sock: socket.socket | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``app`` on 127.0.0.1:port in this event loop; returns once it accepts requests.

    ``sock``: a socket already listening on that port (kept by the caller so that nothing else
    takes the port in between); uvicorn serves on a duplicate of it and closes only that.
    """
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    sockets = [sock.dup()] if sock is not None else None
    task = asyncio.create_task(server.serve(sockets=sockets))
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    return server, task


def bearer(tok: str) -> dict[str, str]:
    """Authorization header for a token."""
    return {"Authorization": f"Bearer {tok}"}


async def wait_state(
    http: httpx.AsyncClient, pid: str, headers: dict[str, str], *states: str, timeout: float = 30
) -> dict[str, Any]:
    """Poll GET /v1/pipelines/{pid} until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"/v1/pipelines/{pid}", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        whole = body.get("note") is None  # not only Temporal's records (a worker too busy)
        if (body["state"] in states and whole) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def read_sse(response: httpx.Response) -> list[dict[str, Any]]:
    """Every message of an SSE response: ``{"id", "event", "data"}`` (data parsed as JSON)."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                messages.append(current)
            current = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value
    return messages


def pipeline_config(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    """A chain config of the given step elements."""
    chain = {"type": "chain", "steps": list(steps)}
    return {"schema_version": "1", "name": name, "definition": chain}


def step(name: str, **kwargs: Any) -> dict[str, Any]:
    """A step element."""
    return {"type": "step", "name": name, "kwargs": kwargs}
