"""Commands that need no server: validate, graph, steps."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from pipeline_engine.cli._app import app
from pipeline_engine.errors import InvalidConfig

console = Console()
err_console = Console(stderr=True)

EXIT_INVALID = 2


def _registry_with_modules(modules: str | None):  # type: ignore[no-untyped-def]
    import pipeline_engine.builtin_steps  # noqa: F401
    from pipeline_engine.settings import Settings
    from pipeline_engine.steps import default_registry, load_step_modules

    load_step_modules(modules if modules is not None else Settings().step_modules)
    return default_registry


@app.command()
def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline config (JSON)."),
    step_modules: str | None = typer.Option(None, help="Extra step modules (comma-separated)."),
) -> None:
    """Validate a pipeline config: the same checks and messages as the API."""
    from pipeline_engine.dsl import parse_config

    registry = _registry_with_modules(step_modules)
    try:
        plan = parse_config(file.read_text(), registry=registry)
    except InvalidConfig as exc:
        err_console.print(f"[red]✗[/red] {exc.message}")
        for p in exc.problems:
            err_console.print(f"  [bold]{p.path}[/bold]: {p.message}")
        raise typer.Exit(EXIT_INVALID) from None
    console.print(f"[green]✓[/green] {plan.config.name}: {len(plan.stages)} stages valid")
    for s in plan.stages:
        console.print(f"  {s.stage_id}")


@app.command()
def steps(
    step_modules: str | None = typer.Option(None, help="Extra step modules (comma-separated)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the registered steps and their parameters."""
    registry = _registry_with_modules(step_modules)
    rows = [
        {
            "name": d.name,
            "async": d.is_async,
            "parameters": d.parameters_schema().get("properties", {}),
        }
        for d in registry.definitions()
    ]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    for row in rows:
        params = ", ".join(row["parameters"]) or "-"
        console.print(f"[bold]{row['name']}[/bold]  ({params})")


@app.command()
def graph(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline config (JSON)."),
) -> None:
    """Print the pipeline as a Mermaid flowchart."""
    from pipeline_engine.dsl import parse_config, to_mermaid

    try:
        plan = parse_config(file.read_text())
    except InvalidConfig as exc:
        err_console.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(to_mermaid(plan), nl=False)
