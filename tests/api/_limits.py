"""Helpers of the rate limit tests: an API of its own with given limits, Redis key cleanup."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from api.app import create_app
from pipeline_engine.steps import StepRegistry
from tests.api._support import ApiServer, make_settings, start_uvicorn
from workflows.dev_server import TemporalDevServer, free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def storage_settings(kind: str) -> dict[str, str]:
    """Settings of a storage: this process's memory, or the real Redis with a prefix of its own."""
    if kind == "memory":
        return {"rate_limit_storage_url": "memory://"}
    return {
        "rate_limit_storage_url": REDIS_URL,
        "rate_limit_key_prefix": f"pe-test-{uuid.uuid4().hex[:12]}",
    }


def drop_keys(prefix: str) -> int:
    """Delete a test's keys from Redis; how many there were."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@asynccontextmanager
async def limited_api(
    temporal: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    task_queue: str,
    **limits: Any,
) -> AsyncIterator[tuple[ApiServer, httpx.AsyncClient]]:
    """The real app on a socket of its own with ``limits`` (a worker must poll ``task_queue``)."""
    settings = make_settings(
        temporal,
        f"sqlite:///{tmp_path / f'limits-{uuid.uuid4().hex[:6]}.db'}",
        task_queue=task_queue,
        **limits,
    )
    app = create_app(settings, registry=registry)
    port = free_port()
    server, task = await start_uvicorn(app, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield ApiServer(base, settings, app), http
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        if settings.rate_limit_storage_url.startswith("redis"):
            drop_keys(settings.rate_limit_key_prefix)


async def until_open(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], *, limit: str
) -> int:
    """Open the stream ``path`` until it is not refused for ``limit`` (a freed slot shows up);
    how many tries it took."""
    deadline = time.monotonic() + 30
    tries = 0
    while True:
        tries += 1
        async with http.stream("GET", path, headers=headers) as response:
            if response.status_code == 200:
                return tries
            assert response.status_code == 429
            body = json.loads(await response.aread())
            assert body["details"][0]["limit"] == limit, body
        assert time.monotonic() < deadline, "the stream slot never came free"
        await asyncio.sleep(0.3)
