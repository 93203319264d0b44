"""Commands that drive pipelines through the REST API: run, list, status, history, cancel, retry,
input.

They use the SDK's :class:`PipelineClient`, with the API's URL from ``--url`` or
``PIPELINE_ENGINE_URL`` and a token from ``--token`` or ``PIPELINE_ENGINE_TOKEN``. Exit codes:
:mod:`pipeline_engine.cli._failures`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.live import Live

from pipeline_engine.cli._failures import EXIT_INVALID, EXIT_PIPELINE_FAILED, CliFailure
from pipeline_engine.cli._output import console, err_console, print_json
from pipeline_engine.cli._remote import (
    JsonOption,
    ReasonOption,
    TokenOption,
    UrlOption,
    json_arg,
    remote_client,
)
from pipeline_engine.cli._render import pipeline_view, print_outcome, progress_table
from pipeline_engine.errors import TenantNotFound
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import MAX_STAGE_PAGE, PipelineStatus, StagePage

if TYPE_CHECKING:
    from pipeline_engine.client import PipelineClient

__all__ = ["COMMANDS", "follow_pipeline"]

PipelineIdArgument = typer.Argument(..., help="Pipeline id.")
_INLINE_RESULT_CHARS = 300


def _act(
    url: str | None,
    token: str | None,
    pipeline_id: str,
    as_json: bool,
    operation: Callable[[PipelineClient], PipelineState],
) -> None:
    """Apply an operation to a pipeline and print the state it leaves the pipeline in."""
    with remote_client(url, token) as client:
        state = operation(client)
    _print_state(pipeline_id, state, as_json=as_json)


def _print_state(pipeline_id: str, state: PipelineState, *, as_json: bool) -> None:
    if as_json:
        print_json({"pipeline_id": pipeline_id, "state": state.value})
    else:
        console.print(f"state: [bold]{state.value}[/bold]")


def _check_tenant(client: PipelineClient, tenant: str) -> None:
    """Refuse a tenant with no stored config, as ``POST /v1/process`` does (a typo, usually)."""
    try:
        client.get_tenant_config(tenant)
    except TenantNotFound:
        raise CliFailure(
            f"tenant {tenant!r} has no config: check --tenant, or store one first "
            f"(PUT /v1/tenants/{tenant}/config)",
            exit_code=3,
        ) from None


def run(
    file: Path | None = typer.Argument(
        None, exists=True, dir_okay=False, help="Pipeline config (JSON); or --pipeline."
    ),
    input: str | None = typer.Option(None, "--input", help="Pipeline input (JSON)."),
    named: str | None = typer.Option(
        None, "--pipeline", help="Run the tenant's stored pipeline of this name (needs --tenant)."
    ),
    version: int | None = typer.Option(
        None, "--version", min=1, help="With --pipeline: this version (default: live, else latest)."
    ),
    alias: str | None = typer.Option(None, "--alias", help="With --pipeline: this alias."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Tenant id (must have a stored config)."
    ),
    idempotency_key: str | None = typer.Option(
        None,
        "--idempotency-key",
        help="Reuse the pipeline created with this key (default: always a new pipeline).",
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Show live progress until it ends."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="With --follow: write the full result (JSON) to this file."
    ),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Create and start a pipeline from a config file, or from the tenant's stored pipeline
    (--pipeline NAME [--version N | --alias A]); with --follow, watch it to the end."""
    payload = json_arg(input, "--input")
    _check_source(file, named, tenant, version, alias)
    if output is not None and not follow:
        raise CliFailure("--output needs --follow", exit_code=EXIT_INVALID)
    key = idempotency_key or f"cli-{uuid.uuid4().hex}"
    with remote_client(url, token) as client:
        if named is not None and tenant is not None:
            created = client.process_detailed(
                tenant, payload, pipeline=named, version=version, alias=alias, idempotency_key=key
            )
            pid, reused, state = created.pipeline_id, created.reused, created.state
        else:
            assert file is not None  # _check_source
            config = json_arg(file.read_text(), str(file))
            if tenant is not None:
                _check_tenant(client, tenant)
            created = client.create_pipeline_detailed(
                config, input=payload, tenant_id=tenant, idempotency_key=key
            )
            pid, reused = created.pipeline_id, created.reused
            state = client.start_pipeline(pid)
        if not as_json:
            if reused:
                console.print(
                    f"pipeline [bold]{pid}[/bold] reused (same --idempotency-key "
                    f"{idempotency_key!r}): {state.value}"
                )
            else:
                origin = _origin(client, pid) if named is not None else ""
                console.print(f"pipeline [bold]{pid}[/bold] started{origin}")
        if not follow:
            if as_json:
                print_json({"pipeline_id": pid, "state": state.value, "reused": reused})
            return
        final = follow_pipeline(client, pid, live=not as_json)
    if output is not None:
        output.write_text(json.dumps(final.result, indent=2, default=str) + "\n")
    if as_json:
        print_json(final)
    else:
        _print_summary(final, output)
    if final.state in (PipelineState.FAILED, PipelineState.CANCELLED):
        raise typer.Exit(EXIT_PIPELINE_FAILED)


def _check_source(
    file: Path | None, named: str | None, tenant: str | None, version: int | None, alias: str | None
) -> None:
    """A config file or a stored pipeline (with its tenant), and never both."""
    if (file is None) == (named is None):
        raise CliFailure(
            "give a config FILE or --pipeline NAME (one of them)", exit_code=EXIT_INVALID
        )
    if named is None and (version is not None or alias is not None):
        raise CliFailure("--version and --alias need --pipeline", exit_code=EXIT_INVALID)
    if named is not None and tenant is None:
        raise CliFailure("--pipeline needs --tenant (whose pipeline)", exit_code=EXIT_INVALID)
    if version is not None and alias is not None:
        raise CliFailure("give --version or --alias, not both", exit_code=EXIT_INVALID)


def _origin(client: PipelineClient, pipeline_id: str) -> str:
    """`` from NAME version N`` for a run of a stored pipeline ('' for a config file's)."""
    ref = client.get_pipeline(pipeline_id, page=StagePage(limit=0)).pipeline_ref
    return f" from {ref.name} version {ref.version}" if ref is not None else ""


def _print_summary(status: PipelineStatus, output: Path | None) -> None:
    elapsed = ""
    if status.started_at and status.finished_at:
        elapsed = f" in {(status.finished_at - status.started_at).total_seconds():.1f} s"
    console.print(f"state: [bold]{status.state.value}[/bold]{elapsed}")
    print_outcome(status, err_console)
    if status.state is not PipelineState.SUCCEEDED:
        return
    if output is not None:
        console.print(f"result written to {output}")
        return
    text = json.dumps(status.result, default=str)
    if len(text) <= _INLINE_RESULT_CHARS:
        console.print(f"result: {text}")
        return
    if isinstance(status.result, dict) and "summary" in status.result:
        summary = json.dumps(status.result["summary"], default=str)
        if len(summary) <= _INLINE_RESULT_CHARS * 4:
            console.print(f"result summary: {summary}")
    console.print(
        f"full result ({len(text)} bytes of JSON): --output FILE, or "
        f"pipeline-engine status {status.pipeline_id} --json"
    )


def follow_pipeline(
    client: PipelineClient, pipeline_id: str, *, live: bool = True
) -> PipelineStatus:
    """Show a live per-stage table until the pipeline ends (or parks in FAILED); its status."""
    status = client.get_pipeline(pipeline_id)
    if not live or not console.is_terminal:  # piped: no redraws, the final table on its own lines
        if not status.state.is_terminal:
            for _event in client.stream_events(pipeline_id):
                pass
        status = client.get_pipeline(pipeline_id)
        if live:
            console.print(progress_table(status))
        return status
    with Live(pipeline_view(status), console=console, refresh_per_second=8) as view:
        if not status.state.is_terminal:
            for _event in client.stream_events(pipeline_id):
                status = client.get_pipeline(pipeline_id)
                view.update(pipeline_view(status))
        status = client.get_pipeline(pipeline_id)
        view.update(progress_table(status))
    return status


def status(
    pipeline_id: str = PipelineIdArgument,
    as_json: bool = typer.Option(False, "--json", help="Print the whole status as JSON."),
    stage_offset: int = typer.Option(0, min=0, help="Skip this many stages."),
    stage_limit: int = typer.Option(
        MAX_STAGE_PAGE, min=0, max=MAX_STAGE_PAGE, help="Show at most this many stages."
    ),
    stage_state: StageState | None = typer.Option(None, help="Only stages in this state."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Show a pipeline's state, stages (attempts, durations, errors) and waiting inputs (a page
    of the stages: see --stage-offset)."""
    page = StagePage(offset=stage_offset, limit=stage_limit, state=stage_state)
    with remote_client(url, token) as client:
        current = client.get_pipeline(pipeline_id, page=page)
    if as_json:
        print_json(current)
        return
    console.print(pipeline_view(current))
    print_outcome(current, err_console)


def list_(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's pipelines."),
    state: PipelineState | None = typer.Option(
        None, "--state", help="Only pipelines in this state."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Only pipelines whose config name starts with this."
    ),
    stored: str | None = typer.Option(
        None, "--pipeline", help="Only runs of this stored pipeline (default: the config's)."
    ),
    version: int | None = typer.Option(
        None, "--version", min=1, help="Only runs of this version of a stored pipeline."
    ),
    page_size: int = typer.Option(20, "--page-size", min=1, max=1000, help="Rows per page."),
    page_token: str | None = typer.Option(
        None, "--page-token", help="The next page (printed under the previous one)."
    ),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """List pipelines, newest first, by pages."""
    with remote_client(url, token) as client:
        page = client.list_pipelines(
            tenant_id=tenant,
            state=state,
            name=name,
            pipeline=stored,
            version=version,
            page_size=page_size,
            page_token=page_token,
        )
    if as_json:
        print_json(page)
        return
    from rich.table import Table

    table = Table("pipeline", "name", "version", "tenant", "state", "started", "ended")
    for item in page.items:
        table.add_row(
            item.pipeline_id,
            item.name or "",
            str(item.pipeline_version or ""),
            item.tenant_id or "",
            item.state or "",
            f"{item.started_at:%Y-%m-%d %H:%M:%S}" if item.started_at else "",
            f"{item.closed_at:%Y-%m-%d %H:%M:%S}" if item.closed_at else "",
        )
    console.print(table)
    if page.next_page_token:
        console.print(f"next page: --page-token {page.next_page_token}")


def history(
    pipeline_id: str = PipelineIdArgument,
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
    with remote_client(url, token) as client:
        events = client.get_history(pipeline_id, since=since, after_id=after_id, limit=limit)
    for event in events:
        if as_json:
            typer.echo(event.model_dump_json())
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.payload.items() if k != "schema")
            console.print(
                f"{event.id:>4} {event.timestamp:%H:%M:%S.%f} {event.type:<26} {detail}",
                markup=False,
            )


def cancel(
    pipeline_id: str = PipelineIdArgument,
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Cancel a pipeline (in-flight steps are cancelled, on_cancel runs)."""
    _act(url, token, pipeline_id, as_json, lambda c: c.cancel_pipeline(pipeline_id, reason))


def retry(
    pipeline_id: str = PipelineIdArgument,
    stage_id: str | None = typer.Argument(
        None, help="The failed stage to re-run (none: every failed stage at once)."
    ),
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Re-run a stage that failed for good, or every one at once (completed stages never run
    again)."""
    if stage_id is None:
        _act(url, token, pipeline_id, as_json, lambda c: c.retry_failed(pipeline_id, reason))
        return
    _act(url, token, pipeline_id, as_json, lambda c: c.retry_stage(pipeline_id, stage_id, reason))


def input_(
    pipeline_id: str = PipelineIdArgument,
    payload: str = typer.Argument(..., help="The payload (JSON)."),
    responder: str = typer.Option(..., "--responder", help="Who answers."),
    stage_id: str | None = typer.Option(None, "--stage", help="Which input, when several wait."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Answer a pipeline waiting for human input."""
    data = json_arg(payload, "payload")
    _act(
        url,
        token,
        pipeline_id,
        as_json,
        lambda c: c.submit_input(pipeline_id, data, responder, stage_id=stage_id),
    )


#: (name, function) of every command of this module, in help order.
COMMANDS = (
    ("run", run),
    ("list", list_),
    ("status", status),
    ("history", history),
    ("cancel", cancel),
    ("retry", retry),
    ("input", input_),
)
