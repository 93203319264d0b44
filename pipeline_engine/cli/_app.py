"""The typer application, with every command registered here, explicitly.

Command modules define plain functions and list them in ``COMMANDS``; none imports this module,
so there is no import circle and nothing registers as a side effect of an import. Every command
is wrapped by :func:`~pipeline_engine.cli._failures.guarded`: one line and a documented exit code
on failure, the traceback only with ``--debug``.
"""

from __future__ import annotations

import typer

from pipeline_engine._version import __version__
from pipeline_engine.cli import (
    _batches,
    _dev,
    _local,
    _named,
    _pipelines,
    _schedules,
    _server,
    _setup,
)
from pipeline_engine.cli._failures import DEBUG_ENV, guarded, set_debug

__all__ = ["build_app"]

_GROUPS = (
    _pipelines.COMMANDS,
    _local.COMMANDS,
    _server.COMMANDS,
    _dev.COMMANDS,
    _setup.COMMANDS,
)

_SUBGROUPS = (
    (
        "pipelines",
        "A tenant's named pipelines: versions, diffs, rollbacks, aliases, audit.",
        _named.COMMANDS,
    ),
    ("batch", "Batches: one pipeline per input, followed as one.", _batches.BATCH_COMMANDS),
    (
        "schedule",
        "Schedules on Temporal Schedules (cron or interval).",
        _schedules.SCHEDULE_COMMANDS,
    ),
    (
        "trigger",
        "Webhook triggers (signed deliveries start a pipeline).",
        _schedules.TRIGGER_COMMANDS,
    ),
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pipeline-engine {__version__}")
        raise typer.Exit()


def _root(
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV, help="Show tracebacks of failures."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Multi-tenant pipeline orchestrator on Temporal.

    Exit codes: 0 done; 1 the pipeline FAILED or was CANCELLED; 2 invalid config, input,
    arguments or installation; 3 not found; 4 authentication or permission; 5 wrong state or
    conflict; 6 unavailable or timed out; 7 unexpected error.
    """
    set_debug(debug)


def build_app() -> typer.Typer:
    """The ``pipeline-engine`` application with all its commands."""
    app = typer.Typer(
        name="pipeline-engine",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(_root)
    for commands in _GROUPS:
        for name, function in commands:
            app.command(name)(guarded(name, function))
    for group, help_text, subcommands in _SUBGROUPS:
        sub = typer.Typer(name=group, help=help_text, no_args_is_help=True, rich_markup_mode=None)
        for name, function in subcommands:
            sub.command(name)(guarded(f"{group} {name}", function))
        app.add_typer(sub, name=group)
    return app
