"""Run a Pipeline Engine worker: ``python worker.py`` (settings from PIPELINE_ENGINE_*)."""

from __future__ import annotations

import asyncio
import logging
import signal

from pipeline_engine.observability import configure_logging, configure_tracing
from pipeline_engine.settings import Settings
from pipeline_engine.steps import default_registry, load_step_modules


async def run_worker(
    settings: Settings, *, task_queue: str | None = None, activities_only: bool = False
) -> None:
    """Connect to Temporal and run a worker until SIGINT/SIGTERM, then drain.

    On the signal the worker stops polling, lets running steps finish for up to
    ``settings.worker_drain_s`` seconds and reports their results, then exits.
    """
    import pipeline_engine.builtin_steps  # noqa: F401  (registers the built-in steps)
    from workflows.connection import TemporalSecurity
    from workflows.payload_retention import start_payload_sweeper
    from workflows.payload_store import store_from_settings
    from workflows.worker_factory import build_worker, connect

    configure_logging(fmt=settings.log_format, level=settings.log_level)
    configure_tracing(settings.otlp_endpoint, service_name="pipeline-engine-worker")
    load_step_modules(settings.step_modules)
    store = store_from_settings(settings)
    if store is not None:
        await store.check()  # a clear error now rather than failed steps later
    client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        metrics_port=settings.worker_metrics_port,
        metrics_host=settings.worker_metrics_host,
        payload_store=store,
        payload_threshold_bytes=settings.payload_threshold_bytes,
        security=TemporalSecurity.from_settings(settings),
    )
    worker = build_worker(
        client,
        task_queue=task_queue or settings.task_queue,
        registry=default_registry,
        max_concurrent_activities=settings.max_concurrent_activities,
        activities_only=activities_only,
        drain_s=settings.worker_drain_s,
        max_result_bytes=settings.payload_max_bytes,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log = logging.getLogger("pipeline_engine.worker")
    sweeper = None if activities_only else start_payload_sweeper(store, client, settings)
    async with worker:
        log.info(
            "worker polling %s on %s", task_queue or settings.task_queue, settings.temporal_address
        )
        await stop.wait()
        log.info(
            "stopping: no new work; running steps get up to %.0f s to finish",
            settings.worker_drain_s,
        )
    if sweeper is not None:
        sweeper.cancel()
    log.info("worker stopped")


def main() -> None:
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
