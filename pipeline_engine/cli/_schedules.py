"""``pipeline-engine schedule …`` and ``pipeline-engine trigger …``: schedules (on Temporal
Schedules) and webhook triggers through the REST API (the SDK's :class:`PipelineClient`;
``--url``/``--token`` as for the other commands).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from pipeline_engine.cli._failures import EXIT_INVALID, CliFailure
from pipeline_engine.cli._output import console, print_json
from pipeline_engine.cli._remote import (
    JsonOption,
    TokenOption,
    UrlOption,
    json_arg,
    remote_client,
)

if TYPE_CHECKING:
    from pipeline_engine.client import PipelineClient

__all__ = ["SCHEDULE_COMMANDS", "TRIGGER_COMMANDS"]

TenantOption = typer.Option(None, "--tenant", help="Tenant id.")
ScheduleIdArgument = typer.Argument(..., help="Schedule id.")


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
                "input": json_arg(input, "--input"),
                "paused": paused,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise CliFailure(f"invalid schedule: {problems}", exit_code=EXIT_INVALID) from None
    with remote_client(url, token) as client:
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
    with remote_client(url, token) as client:
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
        with remote_client(url, token) as client:
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
    with remote_client(url, token) as client:
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
    with remote_client(url, token) as client:
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
