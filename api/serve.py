"""Run the API with uvicorn (``pipeline-engine api`` and ``pipeline-engine dev``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from api.app import create_app
from pipeline_engine.observability import configure_logging, configure_tracing
from pipeline_engine.settings import Settings

__all__ = ["serve_api"]


async def serve_api(settings: Settings) -> None:
    """Serve the API on ``settings.api_host:api_port`` until cancelled.

    Logs go through the project's structured logging (JSON with ``log_format=json``); one access
    line per request comes from :class:`api.observability.RequestContextMiddleware` (quiet in dev,
    where the console shows the demo).
    """
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    configure_tracing(settings.otlp_endpoint, service_name="pipeline-engine-api")
    if settings.env == "dev":
        logging.getLogger("api.access").setLevel(logging.WARNING)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
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
