"""``pipeline-engine batch …`` and ``pipeline-engine schedule …``: batches and schedules through
the REST API (the SDK's :class:`PipelineClient`; ``--url``/``--token`` as for the other commands).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline_engine.batches import BatchStatus
from pipeline_engine.cli._failures import EXIT_INVALID, EXIT_PIPELINE_FAILED, CliFailure
from pipeline_engine.cli._output import console, err_console, print_json
from pipeline_engine.errors import EngineUnavailable, TimeoutError
from pipeline_engine.states import PipelineState

if TYPE_CHECKING:
    from pipeline_engine.client import PipelineClient

__all__ = ["BATCH_COMMANDS", "SCHEDULE_COMMANDS", "TRIGGER_COMMANDS", "follow_batch"]

UrlOption = typer.Option(None, "--url", envvar="PIPELINE_ENGINE_URL", help="API base URL.")
TokenOption = typer.Option(
    None, "--token", envvar="PIPELINE_ENGINE_TOKEN", help="Bearer token.", show_default=False
)
JsonOption = typer.Option(False, "--json", help="Print JSON (for scripts).")
ReasonOption = typer.Option("", "--reason", help="Why (recorded in the events).")
TenantOption = typer.Option(None, "--tenant", help="Tenant id.")
BatchIdArgument = typer.Argument(..., help="Batch id.")
ScheduleIdArgument = typer.Argument(..., help="Schedule id.")
_ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)
_SHOWN_FAILURES = 10


@contextmanager
def _client(url: str | None, token: str | None) -> Iterator[PipelineClient]:
    from pipeline_engine.client import PipelineClient

    with PipelineClient(url, token=token) as client:
        yield client


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
    with _client(url, token) as client:
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
    with _client(url, token) as client:
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
    with _client(url, token) as client:
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
    with _client(url, token) as client:
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
    with _client(url, token) as client:
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
    with _client(url, token) as client:
        found = client.cancel_batch(batch_id, reason)
    if as_json:
        print_json(found)
    else:
        console.print(f"batch {batch_id}: cancel requested ({found.state})")


# ---------------------------------------------------------------------- schedules
def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliFailure(f"{what} is not valid JSON: {exc}", exit_code=EXIT_INVALID) from None


def create_schedule(
    schedule_id: str = ScheduleIdArgument,
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    cron: str | None = typer.Option(None, "--cron", help='Cron expression, e.g. "0 6 * * *".'),
    interval_s: int | None = typer.Option(None, "--interval", min=1, help="Every N seconds."),
    timezone: str | None = typer.Option(None, "--timezone", help="IANA time zone of --cron."),
    overlap: str = typer.Option("skip", "--overlap", help="skip, buffer_one or allow_all."),
    input: str | None = typer.Option(None, "--input", help="Every run's input (JSON)."),
    paused: bool = typer.Option(False, "--paused", help="Create it paused."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Run the tenant's pipeline on a cron expression or an interval (Temporal Schedules)."""
    from pydantic import ValidationError

    from pipeline_engine.schedules import ScheduleDefinition

    try:
        definition = ScheduleDefinition.model_validate(
            {
                "tenant_id": tenant,
                "schedule_id": schedule_id,
                "cron": cron,
                "interval_s": interval_s,
                "timezone": timezone,
                "overlap": overlap,
                "input": _json_arg(input, "--input"),
                "paused": paused,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise CliFailure(f"invalid schedule: {problems}", exit_code=EXIT_INVALID) from None
    with _client(url, token) as client:
        found = client.create_schedule(definition)
    _print_schedule(found, as_json=as_json)


def _print_schedule(found: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    when = found.cron or f"every {found.interval_s} s"
    state = "paused" if found.paused else "active"
    next_run = found.next_run_times[0].isoformat() if found.next_run_times else "-"
    console.print(f"{found.schedule_id}  {found.tenant_id}  {when}  {state}  next: {next_run}")


def list_schedules(
    tenant: str | None = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The schedules of your tenants, with their next run."""
    with _client(url, token) as client:
        found = client.list_schedules(tenant_id=tenant)
    if as_json:
        print_json([s.model_dump(mode="json") for s in found])
        return
    for item in found:
        _print_schedule(item, as_json=False)


def _schedule_action(
    name: str, call: Callable[[PipelineClient, str, str | None], Any]
) -> Callable[..., None]:
    def command(
        schedule_id: str = ScheduleIdArgument,
        tenant: str | None = TenantOption,
        as_json: bool = JsonOption,
        url: str | None = UrlOption,
        token: str | None = TokenOption,
    ) -> None:
        with _client(url, token) as client:
            found = call(client, schedule_id, tenant)
        if found is None:
            console.print(f"schedule {schedule_id} deleted")
        else:
            _print_schedule(found, as_json=as_json)

    command.__doc__ = name
    return command


def create_trigger(
    trigger_id: str = typer.Argument(..., help="Trigger id."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    input: str | None = typer.Option(
        None, "--input", help="CEL over body and headers: the pipeline input (default: the body)."
    ),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Create a webhook trigger (prints its secret, once) or change its mapping."""
    with _client(url, token) as client:
        found = client.put_trigger(trigger_id, tenant_id=tenant, input=input)
    _print_trigger(found, as_json=as_json)


def rotate_trigger(
    trigger_id: str = typer.Argument(..., help="Trigger id."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Give the trigger a new secret (printed once); the old one stops verifying at once."""
    with _client(url, token) as client:
        found = client.rotate_trigger(trigger_id, tenant_id=tenant)
    _print_trigger(found, as_json=as_json)


def _print_trigger(found: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    console.print(f"trigger {found.trigger_id} ({found.tenant_id}): POST {found.url}")
    if found.secret:
        console.print(f"secret (shown once, keep it): {found.secret}")
    else:
        console.print("secret unchanged (pipeline-engine trigger rotate for a new one)")


TRIGGER_COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("create", create_trigger),
    ("rotate", rotate_trigger),
)
BATCH_COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("submit", submit),
    ("status", status),
    ("list", list_batches),
    ("retry-failed", retry_failed),
    ("results", results),
    ("cancel", cancel),
)
SCHEDULE_COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("create", create_schedule),
    ("list", list_schedules),
    (
        "pause",
        _schedule_action(
            "Pause the schedule.", lambda c, s, t: c.pause_schedule(s, "cli", tenant_id=t)
        ),
    ),
    (
        "unpause",
        _schedule_action(
            "Unpause the schedule.", lambda c, s, t: c.unpause_schedule(s, "cli", tenant_id=t)
        ),
    ),
    (
        "trigger",
        _schedule_action("Start a run now.", lambda c, s, t: c.trigger_schedule(s, tenant_id=t)),
    ),
    (
        "delete",
        _schedule_action(
            "Delete the schedule (its pipelines stay).",
            lambda c, s, t: c.delete_schedule(s, tenant_id=t),
        ),
    ),
)
