"""The seed demo: run the cultivos-abc pipeline once and show its progress."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipeline_engine.examples import seed_pipeline_config, seed_tenant_config
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus

_COLOURS = {
    "SUCCEEDED": "green",
    "RUNNING": "yellow",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "WAITING_INPUT": "cyan",
}


def progress_table(status: PipelineStatus) -> Table:
    """A per-stage table of a pipeline's progress."""
    table = Table(title=f"{status.name}  {status.pipeline_id}  [{status.state.value}]")
    table.add_column("stage")
    table.add_column("step")
    table.add_column("state")
    table.add_column("attempts", justify="right")
    for s in status.stages:
        colour = _COLOURS.get(s.state.value, "white")
        table.add_row(s.stage_id, s.step, f"[{colour}]{s.state.value}[/{colour}]", str(s.attempts))
    return table


def run_demo_via_api(api_url: str, token: str, console: Console) -> None:
    """The seed demo through the REST API: store the cultivos-abc config, process, follow."""
    from pipeline_engine.cli._client_commands import follow_pipeline
    from pipeline_engine.client import PipelineClient

    tenant = seed_tenant_config()
    with PipelineClient(api_url, token=token) as client:
        client.put_tenant_config(tenant["tenant_id"], tenant)
        console.print(
            f"stored tenant config [bold]{tenant['tenant_id']}[/bold] (PUT /v1/tenants/…/config)"
        )
        pid = client.process(
            tenant["tenant_id"], input={}, idempotency_key=f"demo-{uuid.uuid4().hex[:8]}"
        )
        console.print(f"POST /v1/process → pipeline [bold]{pid}[/bold]")
        state = follow_pipeline(client, pid, show_result=False)
        result = client.get_pipeline(pid).result
        console.print(f"pipeline ended [bold]{state.value}[/bold]")
        if isinstance(result, dict) and "summary" in result:
            console.print("result summary (sizes per species):")
            console.print_json(json.dumps(result["summary"]))


async def run_demo(engine: Any, console: Console) -> PipelineStatus:
    """Create and start the seed pipeline for tenant cultivos-abc, following it to its end."""
    tenant = seed_tenant_config()
    created = await engine.create_pipeline(
        seed_pipeline_config(),
        input={},
        tenant_id=tenant["tenant_id"],
        idempotency_key=f"demo-{uuid.uuid4().hex[:8]}",
        settings=tenant["settings"],
        start=True,
    )
    status: PipelineStatus = await engine.get_pipeline(created.pipeline_id)
    with Live(progress_table(status), console=console, refresh_per_second=8) as live:
        while status.state not in (
            PipelineState.SUCCEEDED,
            PipelineState.FAILED,
            PipelineState.CANCELLED,
        ):
            await asyncio.sleep(0.2)
            status = await engine.get_pipeline(created.pipeline_id)
            live.update(progress_table(status))
    console.print_json(json.dumps(status.result))
    return status
