"""Run the API with uvicorn (``pipeline-engine api`` and ``pipeline-engine dev``).

One process serves every request on one core. ``api_workers`` > 1 (``pipeline-engine api
--workers N``) runs N uvicorn worker processes on the same port, each a whole API (its own
Temporal client, database pool and tenant config cache), supervised by uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.auth import check_secret
from pipeline_engine.observability import configure_logging, configure_tracing
from pipeline_engine.settings import Settings

__all__ = ["run_api", "serve_api", "worker_app"]

_UVICORN = {
    "log_config": None,
    "access_log": False,
    "lifespan": "on",
    "timeout_graceful_shutdown": 5,
}


def _prepare(settings: Settings) -> None:
    configure_logging(fmt=settings.log_format, level=settings.log_level, file=settings.log_file)
    configure_tracing(settings.otlp_endpoint, service_name="pipeline-engine-api")
    if settings.env == "dev":
        logging.getLogger("api.access").setLevel(logging.WARNING)


async def serve_api(settings: Settings) -> None:
    """Serve the API on ``settings.api_host:api_port`` until cancelled.

    Logs go through the project's structured logging (JSON with ``log_format=json``); one access
    line per request comes from :class:`api.observability.RequestContextMiddleware` (quiet in dev,
    where the console shows the demo).
    """
    _prepare(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        **_UVICORN,  # type: ignore[arg-type]
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


def worker_app() -> FastAPI:
    """The app of one worker process (``api_workers`` > 1): settings from the environment."""
    settings = Settings()
    _prepare(settings)
    return create_app(settings)


def run_api(settings: Settings) -> None:
    """Serve the API until interrupted: in this process, or in ``api_workers`` processes.

    Worker processes read their settings from ``PIPELINE_ENGINE_*`` variables; ``settings``
    gives the address, the port and how many.
    """
    if settings.api_workers == 1:
        asyncio.run(serve_api(settings))
        return
    check_secret(settings)  # refused here, before any worker starts
    uvicorn.run(
        "api.serve:worker_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        log_level=settings.log_level.lower(),
        **_UVICORN,  # type: ignore[arg-type]
    )
