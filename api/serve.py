"""Run the API with uvicorn (``pipeline-engine api`` and ``pipeline-engine dev``)."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from api.app import create_app
from pipeline_engine.settings import Settings

__all__ = ["serve_api"]


async def serve_api(settings: Settings) -> None:
    """Serve the API on ``settings.api_host:api_port`` until cancelled."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
