"""The seed demo of ``make run``: store the cultivos-abc config, process it once, follow it."""

from __future__ import annotations

import json
import uuid

from rich.console import Console

from pipeline_engine.cli._pipelines import follow_pipeline
from pipeline_engine.examples import seed_tenant_config

__all__ = ["run_demo_via_api"]


def run_demo_via_api(api_url: str, token: str, console: Console) -> None:
    """The seed demo through the REST API: store the cultivos-abc config, process, follow."""
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
        status = follow_pipeline(client, pid)
        console.print(f"pipeline ended [bold]{status.state.value}[/bold]")
        if isinstance(status.result, dict) and "summary" in status.result:
            console.print("result summary (sizes per species):")
            console.print_json(json.dumps(status.result["summary"]))
