"""The ``pipeline-engine`` command line."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline_engine.cli._app import build_app
from pipeline_engine.cli._stack import exit_without_finalizing

__all__ = ["app", "main"]

app = build_app()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pipeline-engine`` console script (and of ``python worker.py``)."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="pipeline-engine")
    except SystemExit as done:
        exit_without_finalizing(done.code)
        raise
