"""Commands that run the stack: dev (everything embedded) and worker."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pipeline_engine.cli._failures import EXIT_UNAVAILABLE, CliFailure
from pipeline_engine.cli._output import console
from pipeline_engine.cli._stack import (
    Port,
    StepsOption,
    check_ports,
    connect_temporal,
    data_dir_lock,
    load_steps,
    with_steps,
)

if TYPE_CHECKING:
    from pipeline_engine.settings import Settings
    from workflows.dev_server import TemporalDevServer

__all__ = ["COMMANDS"]


def worker(
    task_queue: str | None = typer.Option(
        None, "--task-queue", help="Task queue (default: PIPELINE_ENGINE_TASK_QUEUE)."
    ),
    activities_only: bool = typer.Option(
        False,
        "--activities-only",
        help="Only run steps (for a queue named in a step's resources.task_queue).",
    ),
    steps: str | None = StepsOption,
) -> None:
    """Run a worker until Ctrl-C or SIGTERM, then drain (settings from PIPELINE_ENGINE_* variables).

    On the signal the worker stops polling, lets running steps finish for up to
    PIPELINE_ENGINE_WORKER_DRAIN_S seconds and reports their results, then exits.
    """
    from pipeline_engine.settings import Settings

    settings = with_steps(Settings(), steps)
    asyncio.run(_run_worker(settings, task_queue=task_queue, activities_only=activities_only))


def _warn_of_the_dev_id_secret(settings: Settings) -> None:
    """Outside dev, say that this worker derives a batch's pipeline ids with the dev key: unless
    the API does too, the API will not find them (the API refuses that key; a worker only warns,
    since most workers run no batches and need no secret)."""
    from pipeline_engine.settings import DEV_ID_SECRET

    if settings.env != "dev" and settings.id_secret.get_secret_value() == DEV_ID_SECRET:
        logging.getLogger("pipeline_engine.worker").warning(
            "PIPELINE_ENGINE_ID_SECRET is the dev default: set the API's, or the pipelines of "
            "batches this worker starts get ids the API does not find"
        )


async def _run_worker(settings: Settings, *, task_queue: str | None, activities_only: bool) -> None:
    import pipeline_engine.builtin_steps  # noqa: F401  (registers the built-in steps)
    from pipeline_engine._ids import IdRule
    from pipeline_engine.cli._setup import check_search_attributes
    from pipeline_engine.observability import configure_logging, configure_tracing
    from pipeline_engine.observability.metric_labels import set_tenant_label
    from pipeline_engine.steps import default_registry
    from workflows.connection import TemporalSecurity
    from workflows.payload_retention import start_payload_sweeper
    from workflows.payload_store import store_from_settings
    from workflows.worker_factory import build_worker

    configure_logging(fmt=settings.log_format, level=settings.log_level, file=settings.log_file)
    load_steps(settings.step_modules)
    if settings.worker_metrics_port is not None:
        check_ports(
            [
                Port(
                    settings.worker_metrics_port,
                    "worker metrics",
                    "PIPELINE_ENGINE_WORKER_METRICS_PORT",
                    host=settings.worker_metrics_host,
                )
            ]
        )
    configure_tracing(settings.otlp_endpoint, service_name="pipeline-engine-worker")
    set_tenant_label(settings.metrics_tenant_label)
    store = store_from_settings(settings)
    if store is not None:
        await store.check()  # a clear error now rather than failed steps later
    client = await connect_temporal(
        settings.temporal_address,
        settings.temporal_namespace,
        metrics_port=settings.worker_metrics_port,
        metrics_host=settings.worker_metrics_host,
        payload_store=store,
        payload_threshold_bytes=settings.payload_threshold_bytes,
        security=TemporalSecurity.from_settings(settings),
    )
    await check_search_attributes(client, settings, who="worker")
    queue = task_queue or settings.task_queue
    worker = build_worker(
        client,
        task_queue=queue,
        registry=default_registry,
        max_concurrent_activities=settings.max_concurrent_activities,
        activities_only=activities_only,
        drain_s=settings.worker_drain_s,
        sandboxed=settings.workflow_sandbox,
        ids=IdRule.from_settings(settings),
        build_id=settings.worker_build_id,
    )
    log = logging.getLogger("pipeline_engine.worker")
    _warn_of_the_dev_id_secret(settings)  # once it runs: a failure to start stays one line
    sweeper = start_payload_sweeper(store, client, settings)
    async with worker:
        log.info("worker polling %s on %s", queue, settings.temporal_address)
        await _until_stopped()
        # leaving the block drains: no new work, running steps get worker_drain_s to finish
        log.info(
            "stopping: no new work; running steps get up to %.0f s to finish",
            settings.worker_drain_s,
        )
    if sweeper is not None:
        sweeper.cancel()
    log.info("worker stopped")


async def _until_stopped() -> None:
    """Wait for SIGINT or SIGTERM."""
    await _stop_on_signals().wait()


def dev(
    api_port: int = typer.Option(8000, "--api-port", help="API port (make run API_PORT=…)."),
    temporal_port: int = typer.Option(
        7233, "--temporal-port", help="Temporal frontend (gRPC) port (make run TEMPORAL_PORT=…)."
    ),
    ui_port: int = typer.Option(
        8233, "--ui-port", help="Temporal Web UI port (make run UI_PORT=…)."
    ),
    data_dir: Path = typer.Option(
        Path(".data"),
        "--data-dir",
        help="Where the SQLite files and logs live (make run DATA_DIR=…).",
    ),
    demo: bool = typer.Option(False, "--demo", help="Run the seed pipeline once at start."),
    steps: str | None = StepsOption,
) -> None:
    """Start the embedded stack: Temporal dev server (+ Web UI), worker and API; Ctrl-C stops it."""
    _require_server_extra()  # fails now, before anything starts, without the server extra
    from api.tokens import ui_codec_endpoint
    from pipeline_engine.settings import Settings
    from workflows.dev_server import TemporalDevServer

    settings = Settings(
        env="dev",
        log_level=os.environ.get("PIPELINE_ENGINE_LOG_LEVEL", "WARNING"),
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_port=api_port,
        database_url=f"sqlite:///{(data_dir / 'pipeline_engine.db').resolve()}",
        log_file=(data_dir / "pipeline-engine.log").resolve(),
        temporal_ui_url=f"http://127.0.0.1:{ui_port}",  # the console links pipelines to it
        payload_store=os.environ.get(
            "PIPELINE_ENGINE_PAYLOAD_STORE", str((data_dir / "payloads").resolve())
        ),
    )
    settings = with_steps(settings, steps)
    load_steps(settings.step_modules)
    check_ports(
        [
            Port(temporal_port, "Temporal frontend", "--temporal-port", "TEMPORAL_PORT"),
            Port(ui_port, "Temporal Web UI", "--ui-port", "UI_PORT"),
            Port(api_port, "API", "--api-port", "API_PORT", host=settings.api_host),
        ]
    )
    with data_dir_lock(data_dir):
        server = TemporalDevServer(
            port=temporal_port,
            ui_port=ui_port,
            db_file=data_dir / "temporal.db",
            log_file=data_dir / "temporal.log",
            ui_codec_endpoint=ui_codec_endpoint(
                f"http://{settings.api_host}:{settings.api_port}", settings
            ),
        )
        console.print(f"starting Temporal dev server on {server.address} …")
        try:
            _start_temporal(server, data_dir / "temporal.log")
            _dev_image_dir(data_dir)
            asyncio.run(_serve(settings, server, data_dir=data_dir, demo=demo))
        finally:
            console.print("stopping …")
            server.stop()


def _dev_image_dir(data_dir: Path) -> None:
    """Dev only: the demo steps may read image files from <data dir>/images (said on screen; a
    production worker reads none unless PIPELINE_ENGINE_IMAGE_DIR names a directory)."""
    from pipeline_engine.builtin_steps import IMAGE_DIR_ENV

    images = Path(os.environ.setdefault(IMAGE_DIR_ENV, str((data_dir / "images").resolve())))
    images.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[yellow]dev:[/yellow] pipeline inputs may name image files in {images} "
        f"(each tenant's in {images}/<tenant id>/; {IMAGE_DIR_ENV}; a production worker reads "
        "no files unless it is set)"
    )


def _require_server_extra() -> None:
    """Raise ``ModuleNotFoundError`` (told apart by the CLI's failure handler) when a module of
    the server extra is missing: found without importing it, so the Temporal server launches
    first and the API's imports (seconds on a fresh install) run while it starts."""
    from pipeline_engine.cli._failures import SERVER_EXTRA_MODULES

    for name in SERVER_EXTRA_MODULES:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _start_temporal(server: TemporalDevServer, log_file: Path) -> None:
    """Launch the server (it dies with this process, however it dies), import what serving needs
    while it starts, and wait until it serves."""
    try:
        server.launch()
        preload = threading.Thread(target=_import_the_stack, name="dev-preload", daemon=True)
        preload.start()
        server.wait_ready()
        preload.join()
    except RuntimeError as exc:
        last = ""
        with contextlib.suppress(OSError):
            lines = [line for line in log_file.read_text(errors="replace").splitlines() if line]
            last = f": {lines[-1][:300]}" if lines else ""
        raise CliFailure(f"{exc}{last} (full log: {log_file})", exit_code=EXIT_UNAVAILABLE) from exc


def _import_the_stack() -> None:
    """Import the worker's and the API's modules (a second or more on a fresh install, while the
    Temporal server starts on the other core); an error shows when :func:`_serve` imports them."""
    with contextlib.suppress(Exception):
        import api.serve  # noqa: F401
        import pipeline_engine.builtin_steps  # noqa: F401
        import workflows.worker_factory  # noqa: F401


async def _serve(
    settings: Settings, server: TemporalDevServer, *, data_dir: Path, demo: bool
) -> None:
    import pipeline_engine.builtin_steps  # noqa: F401  (registers the built-in steps)
    from api.auth import dev_admin_token
    from api.serve import serve_api
    from pipeline_engine._ids import IdRule
    from pipeline_engine.steps import default_registry
    from workflows.payload_retention import start_payload_sweeper
    from workflows.payload_store import store_from_settings
    from workflows.worker_factory import build_worker

    stop = _stop_on_signals()
    store = store_from_settings(settings)
    client = await connect_temporal(
        settings.temporal_address,
        settings.temporal_namespace,
        payload_store=store,
        payload_threshold_bytes=settings.payload_threshold_bytes,
    )
    worker = build_worker(
        client,
        task_queue=settings.task_queue,
        registry=default_registry,
        max_result_bytes=settings.payload_max_bytes,
        sandboxed=settings.workflow_sandbox,
        ids=IdRule.from_settings(settings),
        build_id=settings.worker_build_id,
    )
    sweeper = start_payload_sweeper(store, client, settings)
    async with worker:
        api_task = asyncio.create_task(serve_api(settings))
        console.print(f"[green]worker[/green] polling task queue {settings.task_queue!r}")
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        token = dev_admin_token(settings)
        try:
            if not await _unless_stopped(_wait_ready(api_url, api_task), stop):
                return
            if demo:
                from pipeline_engine.cli._demo import run_demo_via_api

                shown = _in_daemon_thread(run_demo_via_api, api_url, token, console)
                if not await _unless_stopped(shown, stop):
                    return
            _print_how_to_use(settings, server, api_url, token, data_dir)
            await stop.wait()
        finally:
            if sweeper is not None:
                sweeper.cancel()
            api_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await api_task


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (handled in the loop: no KeyboardInterrupt mid-await)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _unless_stopped(work: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first; True when ``work`` finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    return False


def _in_daemon_thread(function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run blocking ``function`` in a daemon thread (so Ctrl-C need not wait for it)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def target() -> None:
        try:
            result = function(*args)
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="pipeline-engine-demo", daemon=True).start()
    return done


def _print_how_to_use(
    settings: Settings, server: TemporalDevServer, api_url: str, token: str, data_dir: Path
) -> None:
    if server.ui_url:
        console.print(f"[green]Temporal Web UI[/green]  {server.ui_url}")
    console.print(f"[green]API docs[/green]         {api_url}/docs")
    console.print(f"[green]Console[/green]          {api_url}/ui#token={token}", soft_wrap=True)
    console.print(
        f"[green]logs[/green]             Temporal: {data_dir / 'temporal.log'}; API and worker: "
        f"this terminal (level {settings.log_level}; PIPELINE_ENGINE_LOG_LEVEL=INFO for more), "
        f"one line per failed attempt; tracebacks in {settings.log_file} (JSON), or with --debug"
    )
    console.print("export these to use the CLI, the SDK and the temporal CLI:")
    for line in (
        f"export PIPELINE_ENGINE_URL={api_url}",
        f"export PIPELINE_ENGINE_TOKEN={token}",
        f"export TEMPORAL_ADDRESS={settings.temporal_address}",
    ):
        print(line, flush=True)
    console.print("serving; press Ctrl-C to stop")


async def _wait_ready(api_url: str, api_task: asyncio.Task[Any], timeout_s: float = 60) -> None:
    import httpx

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient() as http:
        while loop.time() < deadline:
            if api_task.done():
                error = api_task.exception()
                raise CliFailure(
                    f"the API stopped while starting: {error or 'no reason given'}",
                    exit_code=EXIT_UNAVAILABLE,
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{api_url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise CliFailure(
        f"the API at {api_url} was not ready within {timeout_s:g} s", exit_code=EXIT_UNAVAILABLE
    )


#: (name, function) of every command of this module, in help order.
COMMANDS = (("dev", dev), ("worker", worker))
