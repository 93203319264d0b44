"""``pipeline-engine batch …``: batches through the REST API (the SDK's
:class:`PipelineClient`; ``--url``/``--token`` as for the other commands).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline_engine.batches import BatchStatus
from pipeline_engine.cli._failures import EXIT_PIPELINE_FAILED
from pipeline_engine.cli._output import console, err_console, print_json
from pipeline_engine.cli._remote import (
    JsonOption,
    ReasonOption,
    TokenOption,
    UrlOption,
    remote_client,
)
from pipeline_engine.errors import EngineUnavailable, TimeoutError
from pipeline_engine.states import PipelineState

if TYPE_CHECKING:
    from pipeline_engine.client import PipelineClient

__all__ = ["BATCH_COMMANDS", "follow_batch"]

TenantOption = typer.Option(None, "--tenant", help="Tenant id.")
BatchIdArgument = typer.Argument(..., help="Batch id.")
_ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)
_SHOWN_FAILURES = 10


def _done(status: BatchStatus) -> int:
    return sum(status.counts.get(s.value, 0) for s in _ENDED)


def _counts_text(status: BatchStatus) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(status.counts.items()))


def follow_batch(
    client: PipelineClient, batch_id: str, *, live: bool = True, interval_s: float = 1.0
) -> BatchStatus:
    """Poll the batch until it ends, with a live progress bar; its last status.

    The API or Temporal being briefly unreachable (a restart) is waited out, not a failure.
    """
    status = client.get_batch(batch_id)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console, disable=not live, transient=False) as bar:
        task = bar.add_task(batch_id, total=status.total, counts=_counts_text(status))
        while status.state == PipelineState.RUNNING.value:
            time.sleep(interval_s)
            try:
                status = client.get_batch(batch_id)
            except (EngineUnavailable, TimeoutError) as exc:
                bar.update(task, counts=f"waiting: {exc.message[:80]}")
                continue
            bar.update(task, completed=_done(status), counts=_counts_text(status))
    return status


def _summary(client: PipelineClient, status: BatchStatus) -> None:
    elapsed = ""
    if status.started_at and status.finished_at:
        seconds = (status.finished_at - status.started_at).total_seconds()
        rate = status.total / seconds if seconds > 0 else 0.0
        elapsed = f" in {seconds:.1f} s ({rate:.1f} pipelines/s)"
    console.print(f"batch {status.batch_id}: [bold]{status.state}[/bold]{elapsed}")
    console.print(f"  {_counts_text(status)} of {status.total}")
    failed = status.counts.get(PipelineState.FAILED.value, 0)
    if failed:
        page = client.list_batch_pipelines(
            status.batch_id, state=PipelineState.FAILED, page_size=_SHOWN_FAILURES
        )
        for item in page.items:
            err_console.print(f"  failed: input {item.index} → {item.pipeline_id}")
        if failed > len(page.items):
            err_console.print(f"  … and {failed - len(page.items)} more")
        err_console.print(f"  after a fix: pipeline-engine batch retry-failed {status.batch_id}")


def _exit_for(status: BatchStatus) -> None:
    if status.state in (PipelineState.FAILED.value, PipelineState.CANCELLED.value):
        raise typer.Exit(EXIT_PIPELINE_FAILED)


def submit(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Inputs, one JSON value a line (NDJSON)."
    ),
    tenant: str | None = TenantOption,
    max_running: int | None = typer.Option(
        None, "--max-running", min=1, help="At most this many pipelines at once (default 100)."
    ),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="The same key gives the same batch (safe to repeat)."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Show live progress until it ends."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Run the tenant's pipeline once per line of FILE; --follow watches the batch to the end."""
    with remote_client(url, token) as client:
        ref = client.submit_batch(
            file.read_bytes(),
            tenant_id=tenant,
            max_running=max_running,
            idempotency_key=idempotency_key,
        )
        if not follow:
            if as_json:
                print_json(ref)
            else:
                console.print(f"batch [bold]{ref.batch_id}[/bold]: {ref.total} pipelines")
            return
        if not as_json:
            console.print(f"batch [bold]{ref.batch_id}[/bold]: {ref.total} pipelines")
        final = follow_batch(client, ref.batch_id, live=not as_json)
        if as_json:
            print_json(final)
        else:
            _summary(client, final)
    _exit_for(final)


def status(
    batch_id: str = BatchIdArgument,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The batch's state and its pipelines' counts."""
    with remote_client(url, token) as client:
        found = client.get_batch(batch_id)
        if as_json:
            print_json(found)
        else:
            _summary(client, found)


def list_batches(
    tenant: str | None = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The batches of your tenants, newest first."""
    with remote_client(url, token) as client:
        page = client.list_batches(tenant_id=tenant)
    if as_json:
        print_json(page)
        return
    for item in page.items:
        console.print(f"{item.batch_id}  {item.tenant_id}  {item.state}  {item.total} inputs")


def retry_failed(
    batch_id: str = BatchIdArgument,
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Retry every failed stage of every failed pipeline of the batch."""
    with remote_client(url, token) as client:
        retried = client.retry_failed_batch(batch_id, reason)
    if as_json:
        print_json(retried)
    else:
        console.print(
            f"retried {retried.retried_stages} stages of {retried.retried_pipelines} pipelines"
        )


def results(
    batch_id: str = BatchIdArgument,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write them to this file."),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The batch's results as NDJSON, in input order."""
    with remote_client(url, token) as client:
        lines = (line.model_dump_json() for line in client.batch_results(batch_id))
        if output is None:
            for line in lines:
                typer.echo(line)
            return
        with output.open("w") as fh:
            count = sum(fh.write(line + "\n") > 0 for line in lines)
    console.print(f"{count} results written to {output}")


def cancel(
    batch_id: str = BatchIdArgument,
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Start no more of the batch's pipelines and cancel the running ones."""
    with remote_client(url, token) as client:
        found = client.cancel_batch(batch_id, reason)
    if as_json:
        print_json(found)
    else:
        console.print(f"batch {batch_id}: cancel requested ({found.state})")


BATCH_COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("submit", submit),
    ("status", status),
    ("list", list_batches),
    ("retry-failed", retry_failed),
    ("results", results),
    ("cancel", cancel),
)
