"""How the CLI fails: one actionable line on stderr and a documented exit code.

Exit codes (for scripts): 0 done (for ``run --follow``: SUCCEEDED); 1 the pipeline FAILED or was
CANCELLED; 2 invalid config, input, arguments or installation (a missing extra, a step module that
does not import); 3 not found; 4 authentication or permission; 5 wrong state or conflict; 6 the
API or Temporal is unavailable (or is not what the URL should point at), or a timeout; 7 an
unexpected error (a bug: ``--debug`` shows the traceback).

The codes of project errors derive from their HTTP status (``PipelineError.http_status``), the one
place error kinds are classified.
"""

from __future__ import annotations

import functools
import json
import os
import traceback
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer

from pipeline_engine.errors import AuthenticationError, PipelineError

__all__ = [
    "EXIT_BUG",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_PIPELINE_FAILED",
    "EXIT_STATE",
    "EXIT_UNAVAILABLE",
    "CliFailure",
    "debug_enabled",
    "exit_code_for",
    "guarded",
]

EXIT_PIPELINE_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_STATE = 5
EXIT_UNAVAILABLE = 6
EXIT_BUG = 7

_EXIT_BY_HTTP_STATUS = {
    401: EXIT_AUTH,
    403: EXIT_AUTH,
    404: EXIT_NOT_FOUND,
    409: EXIT_STATE,
    413: EXIT_INVALID,
    422: EXIT_INVALID,
    429: EXIT_UNAVAILABLE,
    503: EXIT_UNAVAILABLE,
    504: EXIT_UNAVAILABLE,
}

#: Top-level modules of the ``server`` extra: a command that imports one needs that extra.
SERVER_EXTRA_MODULES = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "sse_starlette",
        "jwt",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "prometheus_client",
        "aiosqlite",
        "opentelemetry",
    }
)

DEBUG_ENV = "PIPELINE_ENGINE_DEBUG"
_command: str | None = None


class CliFailure(Exception):
    """A failure the CLI explains in one line, with its exit code."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code_for(exc: PipelineError) -> int:
    """The exit code a script sees for a project error."""
    status = exc.http_status
    return _EXIT_BY_HTTP_STATUS.get(status, EXIT_UNAVAILABLE if status >= 500 else EXIT_BUG)


_debug = False


def debug_enabled() -> bool:
    """``--debug`` or ``PIPELINE_ENGINE_DEBUG=1``: show tracebacks."""
    return _debug or os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}


def set_debug(enabled: bool) -> None:
    """Remember ``--debug`` for the rest of this invocation."""
    global _debug
    _debug = enabled
    if enabled:  # the logging configuration reads it too (tracebacks on the terminal)
        os.environ[DEBUG_ENV] = "1"


def _explain(exc: BaseException) -> tuple[str, list[str], int]:
    """One line (plus the listed problems, if any) and the exit code for ``exc``."""
    if isinstance(exc, CliFailure):
        return exc.message, [], exc.exit_code
    if isinstance(exc, PipelineError):
        problems = [
            f"{d['path']}: {d.get('message')}"
            for d in exc.details
            if isinstance(d, dict) and "path" in d
        ]
        message = exc.message
        if isinstance(exc, AuthenticationError):
            message += " (set --token or PIPELINE_ENGINE_TOKEN; `pipeline-engine token` mints one)"
        return message, problems, exit_code_for(exc)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in (
        SERVER_EXTRA_MODULES
    ):
        command = _command_name()
        return (
            f"`pipeline-engine {command}` needs the server extra (missing module {exc.name!r}): "
            "pip install 'pipeline-engine[server]'",
            [],
            EXIT_INVALID,
        )
    if isinstance(exc, json.JSONDecodeError):
        return (
            "the server did not answer like the Pipeline Engine API (its response is not JSON); "
            "check --url / PIPELINE_ENGINE_URL",
            [],
            EXIT_UNAVAILABLE,
        )
    return (
        f"unexpected error: {type(exc).__name__}: {exc} (--debug shows the traceback)",
        [],
        EXIT_BUG,
    )


def _command_name() -> str:
    return _command or "command"


def fail(exc: BaseException) -> NoReturn:
    """Print why ``exc`` happened in one line (the traceback too with --debug) and exit."""
    message, problems, code = _explain(exc)
    if debug_enabled():
        traceback.print_exception(exc)
    typer.echo(f"error: {message}", err=True)
    for line in problems:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


P = ParamSpec("P")
R = TypeVar("R")


def guarded(name: str, command: Callable[P, R]) -> Callable[P, R]:
    """Wrap command ``name`` so that every failure ends in one line and a documented exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        global _command
        _command = name
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in {"click", "typer"}:
                raise  # usage errors and exits: the command line's own handling
            fail(exc)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return run
