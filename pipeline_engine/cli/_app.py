"""The typer application; each group of commands lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pipeline-engine",
    help="Multi-tenant pipeline orchestrator on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

from pipeline_engine.cli import _client_commands, _dev, _local, _server  # noqa: E402,F401
