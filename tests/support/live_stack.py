"""The live stack for tests that go through HTTP: the real API app under uvicorn on a free
127.0.0.1 port and a worker on its own task queue, over the session's Temporal dev server, both on
a private event-loop thread (so tests may use the synchronous client too)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline_engine._loop_thread import LoopThread
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.payload_store import PayloadStore

SECRET = "live-stack-secret-Rk4nW8qZ2vB6xT0mL5pH9cF3jS7dG1aE"  # random-looking: the entropy check
ID_SECRET = "live-stack-ids-Vb3nQ8wZ1xK6mT4pL9hR2cJ7sF0dG5aYe"  # the API's and worker's id key


@dataclass
class LiveStack:
    """The API (uvicorn) and a worker, running on a private event loop thread."""

    base_url: str
    token: str
    stop: Callable[[], None]


def _start_live_stack(
    temporal: TemporalDevServer,
    registry: StepRegistry,
    db_url: str,
    payload_store: PayloadStore | None,
) -> LiveStack:
    try:
        from api.app import create_app
        from api.auth import mint_token
    except ImportError as exc:  # only while issue #3 (the REST API) has not landed
        pytest.skip(f"live backend needs the REST API (api.app not importable: {exc})")
    import uvicorn

    from pipeline_engine._ids import IdRule
    from workflows.worker_factory import build_worker, connect

    settings = Settings(
        env="prod",
        jwt_secret=SECRET,
        id_secret=ID_SECRET,
        temporal_address=temporal.address,
        task_queue=f"live-{uuid.uuid4().hex[:10]}",
        database_url=db_url,
        sse_ping_s=5.0,
        payload_store=payload_store.location if payload_store else "",
    )
    port = free_port()
    runner = LoopThread("live-stack")
    handles: dict[str, Any] = {}

    async def start() -> None:
        client = await connect(temporal.address, payload_store=payload_store)
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            registry=registry,
            ids=IdRule.from_settings(settings),
        )
        handles["worker"] = asyncio.create_task(worker.run())
        handles["worker_obj"] = worker
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, registry=registry),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
            )
        )
        handles["server_obj"] = server
        handles["server"] = asyncio.create_task(server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not server.started:  # uvicorn offers a flag, not an event
            if handles["server"].done() or loop.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.02)

    async def shutdown() -> None:
        handles["server_obj"].should_exit = True
        await asyncio.wait_for(handles["server"], 15)
        await handles["worker_obj"].shutdown()

    runner.run(start(), timeout=60)

    def stop() -> None:
        try:
            runner.run(shutdown(), timeout=30)
        finally:
            runner.stop()

    token = mint_token(SECRET, sub="live-tests", roles=["admin"], tenants=["*"])
    return LiveStack(f"http://127.0.0.1:{port}", token, stop)


def running_live_stack(
    temporal_server: TemporalDevServer,
    registry: StepRegistry,
    data_dir: Path,
    *,
    payload_store: PayloadStore | None = None,
) -> Iterator[LiveStack]:
    """Start the live stack, yield it, stop it."""
    stack = _start_live_stack(
        temporal_server, registry, f"sqlite:///{data_dir / 'tenants.db'}", payload_store
    )
    yield stack
    stack.stop()
