"""Commands that need no server: validate, graph, steps."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline_engine.cli._output import console, print_json
from pipeline_engine.steps import StepRegistry

__all__ = ["COMMANDS"]

StepModulesOption = typer.Option(
    None, "--step-modules", help="Extra step modules (comma-separated import paths)."
)
PipelinesOption = typer.Option(
    None,
    "--pipelines",
    exists=True,
    file_okay=False,
    help="A folder of the pipelines its sub-pipelines name: <name>.json, <name>@<version>.json.",
)


def _registry_with_modules(modules: str | None) -> StepRegistry:
    import pipeline_engine.builtin_steps  # noqa: F401
    from pipeline_engine.cli._stack import load_steps
    from pipeline_engine.settings import Settings
    from pipeline_engine.steps import default_registry

    load_steps(modules if modules is not None else Settings().step_modules)
    return default_registry


def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline config (JSON)."),
    step_modules: str | None = StepModulesOption,
    as_json: bool = typer.Option(False, "--json", help="Print the stages as JSON."),
    pipelines: Path | None = PipelinesOption,
) -> None:
    """Validate a pipeline config: the same checks and messages as the API (its sub-pipelines'
    references too, against ``--pipelines``)."""
    from pipeline_engine.cli._pipeline_files import folder_resolver
    from pipeline_engine.dsl import parse_config

    plan = parse_config(
        file.read_text(),
        registry=_registry_with_modules(step_modules),
        pipelines=folder_resolver(pipelines) if pipelines is not None else None,
    )
    if as_json:
        print_json(
            {"name": plan.config.name, "valid": True, "stages": [s.stage_id for s in plan.stages]}
        )
        return
    console.print(f"[green]✓[/green] {plan.config.name}: {len(plan.stages)} stages valid")
    for s in plan.stages:
        console.print(f"  {s.stage_id}", markup=False)


def steps(
    step_modules: str | None = StepModulesOption,
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
        print_json(rows)
        return
    for row in rows:
        params = ", ".join(row["parameters"]) or "-"
        console.print(f"[bold]{row['name']}[/bold]  ({params})")


def graph(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline config (JSON)."),
    pipelines: Path | None = PipelinesOption,
) -> None:
    """Print the pipeline as a Mermaid flowchart (a sub-pipeline is a subgraph, holding its
    child's stages when ``--pipelines`` has it)."""
    from pipeline_engine.cli._pipeline_files import folder_resolver
    from pipeline_engine.dsl import parse_config, to_mermaid

    resolver = folder_resolver(pipelines) if pipelines is not None else None
    typer.echo(to_mermaid(parse_config(file.read_text()), pipelines=resolver), nl=False)


#: (name, function) of every command of this module, in help order.
COMMANDS = (("validate", validate), ("graph", graph), ("steps", steps))
