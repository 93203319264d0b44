"""Commands that drive pipelines through the REST API: run, status, history, cancel, retry, input.

They use the SDK's :class:`PipelineClient`, with the API's URL from ``--url`` or
``PIPELINE_ENGINE_URL`` and a token from ``--token`` or ``PIPELINE_ENGINE_TOKEN``.

Exit codes (for scripts): 0 done (for ``run --follow``: SUCCEEDED), 1 the pipeline FAILED or was
CANCELLED, 2 invalid config, input or arguments, 3 not found, 4 authentication or permission,
5 wrong state or conflict, 6 the API or Temporal is unavailable, or a timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live

from pipeline_engine.cli._app import app
from pipeline_engine.errors import (
    AuthenticationError,
    Conflict,
    EngineUnavailable,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    NotFound,
    PermissionDenied,
    PipelineError,
    TimeoutError,
)
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import MAX_STAGE_PAGE, PipelineStatus, StagePage

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

EXIT_PIPELINE_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_STATE = 5
EXIT_UNAVAILABLE = 6

_EXIT_CODES: tuple[tuple[type[PipelineError], int], ...] = (
    (InvalidConfig, EXIT_INVALID),
    (InvalidInput, EXIT_INVALID),
    (NotFound, EXIT_NOT_FOUND),
    (AuthenticationError, EXIT_AUTH),
    (PermissionDenied, EXIT_AUTH),
    (InvalidState, EXIT_STATE),
    (Conflict, EXIT_STATE),
    (EngineUnavailable, EXIT_UNAVAILABLE),
    (TimeoutError, EXIT_UNAVAILABLE),
)

UrlOption = typer.Option(None, "--url", envvar="PIPELINE_ENGINE_URL", help="API base URL.")
TokenOption = typer.Option(
    None, "--token", envvar="PIPELINE_ENGINE_TOKEN", help="Bearer token.", show_default=False
)


def exit_code_for(exc: PipelineError) -> int:
    """The exit code a script sees for a project error."""
    for cls, code in _EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_UNAVAILABLE


@contextmanager
def _client(url: str | None, token: str | None) -> Iterator[Any]:
    from pipeline_engine.client import PipelineClient

    with PipelineClient(url, token=token) as client:
        yield client


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except PipelineError as exc:
        err_console.print(f"[red]✗[/red] {exc.message}")
        for detail in exc.details:
            if isinstance(detail, dict) and "path" in detail:
                err_console.print(f"  [bold]{detail['path']}[/bold]: {detail.get('message')}")
        raise typer.Exit(exit_code_for(exc)) from None


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        err_console.print(f"[red]✗[/red] {what} is not valid JSON: {exc}")
        raise typer.Exit(EXIT_INVALID) from None


def _state_exit(state: PipelineState) -> None:
    console.print(f"state: [bold]{state.value}[/bold]")
    if state in (PipelineState.FAILED, PipelineState.CANCELLED):
        raise typer.Exit(EXIT_PIPELINE_FAILED)


@app.command()
def run(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline config (JSON)."),
    input: str | None = typer.Option(None, "--input", help="Pipeline input (JSON)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant id."),
    idempotency_key: str | None = typer.Option(None, help="Same key, same pipeline."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Show live progress until it ends."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Create and start a pipeline from a config file; with --follow, watch it to the end."""
    payload = _json_arg(input, "--input")
    config = _json_arg(file.read_text(), str(file))
    with _client(url, token) as client:
        pid = _guard(
            lambda: client.create_pipeline(
                config, input=payload, tenant_id=tenant, idempotency_key=idempotency_key
            )
        )
        _guard(lambda: client.start_pipeline(pid))
        console.print(f"pipeline [bold]{pid}[/bold]")
        if not follow:
            return
        state = follow_pipeline(client, pid)
    _state_exit(state)


def follow_pipeline(client: Any, pipeline_id: str, *, show_result: bool = True) -> PipelineState:
    """Show a live per-stage table until the pipeline ends; print the result; return the state."""
    from pipeline_engine.cli._demo import progress_table

    status: PipelineStatus = _guard(lambda: client.get_pipeline(pipeline_id))
    with Live(progress_table(status), console=console, refresh_per_second=8) as live:
        if not status.state.is_terminal:
            for _event in client.stream_events(pipeline_id):
                status = _guard(lambda: client.get_pipeline(pipeline_id))
                live.update(progress_table(status))
        status = _guard(lambda: client.get_pipeline(pipeline_id))
        live.update(progress_table(status))
    console.print()
    if status.state is PipelineState.SUCCEEDED and show_result:
        console.print_json(json.dumps(status.result))
    _print_errors(status)
    return status.state


def _print_errors(status: PipelineStatus) -> None:
    """The pipeline's error, or (while it is held retryable) its failed stages' errors."""
    if status.error is not None:
        err_console.print(f"[red]{status.error.type}[/red]: {status.error.message}")
        return
    for stage in status.stages:
        if stage.state.value == "FAILED" and stage.error is not None:
            err_console.print(
                f"[red]{stage.stage_id}[/red] {stage.error.type}: {stage.error.message}"
            )
    if status.state is PipelineState.FAILED and status.retryable_until is not None:
        err_console.print(
            f"retryable until {status.retryable_until:%Y-%m-%d %H:%M} UTC: "
            f"pipeline-engine retry {status.pipeline_id} <stage_id>"
        )


@app.command()
def status(
    pipeline_id: str = typer.Argument(..., help="Pipeline id."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole status as JSON."),
    stage_offset: int = typer.Option(0, min=0, help="Skip this many stages."),
    stage_limit: int = typer.Option(
        MAX_STAGE_PAGE, min=0, max=MAX_STAGE_PAGE, help="Show at most this many stages."
    ),
    stage_state: StageState | None = typer.Option(None, help="Only stages in this state."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Show a pipeline's state and stages (a page of them: see --stage-offset)."""
    from pipeline_engine.cli._demo import progress_table

    page = StagePage(offset=stage_offset, limit=stage_limit, state=stage_state)
    with _client(url, token) as client:
        current: PipelineStatus = _guard(lambda: client.get_pipeline(pipeline_id, page=page))
    if as_json:
        console.print_json(current.model_dump_json(by_alias=True))
    else:
        console.print(progress_table(current))
        _print_errors(current)


@app.command()
def history(
    pipeline_id: str = typer.Argument(..., help="Pipeline id."),
    since: datetime | None = typer.Option(
        None, help="Only events at or after this time (ISO 8601)."
    ),
    after_id: int | None = typer.Option(None, min=0, help="Only events after this id."),
    limit: int | None = typer.Option(None, min=1, help="At most this many events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Show a pipeline's events in order."""
    with _client(url, token) as client:
        events = _guard(
            lambda: client.get_history(pipeline_id, since=since, after_id=after_id, limit=limit)
        )
    for event in events:
        if as_json:
            typer.echo(event.model_dump_json())
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.payload.items() if k != "schema")
            console.print(f"{event.id:>4} {event.timestamp:%H:%M:%S.%f} {event.type:<26} {detail}")


@app.command()
def cancel(
    pipeline_id: str = typer.Argument(..., help="Pipeline id."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the events)."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Cancel a pipeline (in-flight steps are cancelled, on_cancel runs)."""
    with _client(url, token) as client:
        state = _guard(lambda: client.cancel_pipeline(pipeline_id, reason))
    console.print(f"state: [bold]{state.value}[/bold]")


@app.command()
def retry(
    pipeline_id: str = typer.Argument(..., help="Pipeline id."),
    stage_id: str = typer.Argument(..., help="The failed stage to re-run."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the events)."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Re-run a stage that failed for good (completed stages never run again)."""
    with _client(url, token) as client:
        state = _guard(lambda: client.retry_stage(pipeline_id, stage_id, reason))
    console.print(f"state: [bold]{state.value}[/bold]")


@app.command("input")
def input_(
    pipeline_id: str = typer.Argument(..., help="Pipeline id."),
    payload: str = typer.Argument(..., help="The payload (JSON)."),
    responder: str = typer.Option(..., "--responder", help="Who answers."),
    stage_id: str | None = typer.Option(None, "--stage", help="Which input, when several wait."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Answer a pipeline waiting for human input."""
    data = _json_arg(payload, "payload")
    with _client(url, token) as client:
        state = _guard(lambda: client.submit_input(pipeline_id, data, responder, stage_id=stage_id))
    console.print(f"state: [bold]{state.value}[/bold]")
