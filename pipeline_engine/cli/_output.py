"""Where the CLI writes: rich on a terminal, plain unwrapped lines when piped; JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

__all__ = ["console", "err_console", "print_json"]


def _console(*, stderr: bool) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    # piped or redirected: never wrap or pad lines at 80 columns, no colour codes
    return Console(stderr=stderr, width=100_000, soft_wrap=True, no_color=True, highlight=False)


console = _console(stderr=False)
err_console = _console(stderr=True)


def print_json(value: Any) -> None:
    """Print ``value`` (a pydantic model, or any JSON value) as indented JSON on stdout."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    typer.echo(json.dumps(value, indent=2, default=str))
