"""Commands that run the stack: dev (everything embedded) and worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from pipeline_engine.cli._app import app

console = Console()


@app.command()
def worker(
    task_queue: str | None = typer.Option(None, help="Task queue (default: settings.task_queue)."),
    activities_only: bool = typer.Option(
        False, help="Only run steps (for a queue named in a step's resources.task_queue)."
    ),
) -> None:
    """Run a worker (settings from PIPELINE_ENGINE_* variables)."""
    from pipeline_engine.settings import Settings
    from worker import run_worker

    asyncio.run(run_worker(Settings(), task_queue=task_queue, activities_only=activities_only))


@app.command()
def dev(
    api_port: int = typer.Option(8000, help="API port."),
    temporal_port: int = typer.Option(7233, help="Temporal frontend (gRPC) port."),
    ui_port: int = typer.Option(8233, help="Temporal Web UI port."),
    data_dir: Path = typer.Option(Path(".data"), help="Where the SQLite files live."),
    demo: bool = typer.Option(False, help="Run the seed pipeline once at start."),
) -> None:
    """Start the embedded stack: Temporal dev server (+ Web UI), worker and API."""
    from pipeline_engine.settings import Settings
    from workflows.dev_server import TemporalDevServer

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        env="dev",
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_port=api_port,
        database_url=f"sqlite:///{(data_dir / 'pipeline_engine.db').resolve()}",
    )
    server = TemporalDevServer(
        port=temporal_port,
        ui_port=ui_port,
        db_file=data_dir / "temporal.db",
        log_file=data_dir / "temporal.log",
    )
    console.print(f"starting Temporal dev server on {server.address} …")
    server.start()
    try:
        asyncio.run(_serve(settings, server.ui_url, demo=demo))
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping Temporal dev server …")
        server.stop()


async def _serve(settings: Any, ui_url: str | None, *, demo: bool) -> None:
    import pipeline_engine.builtin_steps  # noqa: F401
    from pipeline_engine.steps import default_registry, load_step_modules
    from workflows.engine import TemporalPipelineEngine
    from workflows.worker_factory import build_worker, connect

    load_step_modules(settings.step_modules)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    worker = build_worker(client, task_queue=settings.task_queue, registry=default_registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        api_task = _start_api(settings)
        engine = TemporalPipelineEngine(
            client, task_queue=settings.task_queue, registry=default_registry
        )
        console.print(f"[green]worker[/green] polling task queue {settings.task_queue!r}")
        if ui_url:
            console.print(f"[green]Temporal Web UI[/green] {ui_url}")
        if api_task is not None:
            console.print(f"[green]API[/green] http://{settings.api_host}:{settings.api_port}/docs")
        if demo:
            from pipeline_engine.cli._demo import run_demo

            await run_demo(engine, console)
        console.print("serving; press Ctrl-C to stop")
        await stop.wait()
        if api_task is not None:
            api_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await api_task


def _start_api(settings: Any) -> asyncio.Task[None] | None:
    try:
        from api.serve import serve_api
    except ImportError:
        return None
    return asyncio.create_task(serve_api(settings))
