"""Commands that run the stack: dev (everything embedded) and worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
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
    from pipeline_engine.builtin_steps import IMAGE_DIR_ENV
    from pipeline_engine.settings import Settings
    from workflows.dev_server import TemporalDevServer

    data_dir.mkdir(parents=True, exist_ok=True)
    # dev only: the demo steps may read image files from <data dir>/images (said on screen; a
    # production worker reads none unless PIPELINE_ENGINE_IMAGE_DIR names a directory)
    images = Path(os.environ.setdefault(IMAGE_DIR_ENV, str((data_dir / "images").resolve())))
    images.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        env="dev",
        log_level=os.environ.get("PIPELINE_ENGINE_LOG_LEVEL", "WARNING"),
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_port=api_port,
        database_url=f"sqlite:///{(data_dir / 'pipeline_engine.db').resolve()}",
        temporal_ui_url=f"http://127.0.0.1:{ui_port}",  # the console links pipelines to it
        payload_store=os.environ.get(
            "PIPELINE_ENGINE_PAYLOAD_STORE", str((data_dir / "payloads").resolve())
        ),
    )
    server = TemporalDevServer(
        port=temporal_port,
        ui_port=ui_port,
        db_file=data_dir / "temporal.db",
        log_file=data_dir / "temporal.log",
        ui_codec_endpoint=_ui_codec_endpoint(settings),
    )
    console.print(
        f"[yellow]dev:[/yellow] pipeline inputs may name image files in {images} "
        f"({IMAGE_DIR_ENV}; a production worker reads no files unless it is set)"
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


def _ui_codec_endpoint(settings: Any) -> str | None:
    """The API's codec endpoint for the Web UI, a viewer token in its path (docs/security.md)."""
    try:
        from api.routes.codec import ui_codec_endpoint
    except ImportError:  # no API (the server extra is not installed): no codec
        return None
    return ui_codec_endpoint(f"http://{settings.api_host}:{settings.api_port}", settings.jwt_secret)


async def _serve(settings: Any, ui_url: str | None, *, demo: bool) -> None:
    import pipeline_engine.builtin_steps  # noqa: F401
    from pipeline_engine.steps import default_registry, load_step_modules
    from workflows.engine import TemporalPipelineEngine
    from workflows.payload_retention import start_payload_sweeper
    from workflows.payload_store import store_from_settings
    from workflows.worker_factory import build_worker, connect

    load_step_modules(settings.step_modules)
    store = store_from_settings(settings)
    client = await connect(
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
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sweeper = start_payload_sweeper(store, client, settings)
    async with worker:
        api_task = _start_api(settings)
        engine = TemporalPipelineEngine(
            client, task_queue=settings.task_queue, registry=default_registry
        )
        console.print(f"[green]worker[/green] polling task queue {settings.task_queue!r}")
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        token = None
        if api_task is not None:
            from api.auth import dev_admin_token

            token = dev_admin_token(settings)
            await _wait_ready(api_url, api_task)
        if demo:
            if api_task is not None and token is not None:
                from pipeline_engine.cli._demo import run_demo_via_api

                await asyncio.to_thread(run_demo_via_api, api_url, token, console)
            else:
                from pipeline_engine.cli._demo import run_demo

                await run_demo(engine, console)
        if ui_url:
            console.print(f"[green]Temporal Web UI[/green]  {ui_url}")
        if api_task is not None:
            console.print(f"[green]API docs[/green]         {api_url}/docs")
            console.print(
                f"[green]Console[/green]          {api_url}/ui#token={token}", soft_wrap=True
            )
            console.print("[green]admin token[/green]      (export these to use the CLI and SDK)")
            print(f"export PIPELINE_ENGINE_URL={api_url}", flush=True)
            print(f"export PIPELINE_ENGINE_TOKEN={token}", flush=True)
        console.print("serving; press Ctrl-C to stop")
        await stop.wait()
        if sweeper is not None:
            sweeper.cancel()
        if api_task is not None:
            api_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await api_task


async def _wait_ready(api_url: str, api_task: asyncio.Task[None], timeout_s: float = 60) -> None:
    import httpx

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient() as http:
        while loop.time() < deadline:
            if api_task.done():
                api_task.result()  # re-raise why the API stopped
                raise RuntimeError("the API stopped")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{api_url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API at {api_url} was not ready within {timeout_s:g} s")


def _start_api(settings: Any) -> asyncio.Task[None] | None:
    try:
        from api.serve import serve_api
    except ImportError:
        return None
    return asyncio.create_task(serve_api(settings))
