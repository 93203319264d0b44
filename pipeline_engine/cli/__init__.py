"""The ``pipeline-engine`` command line."""

from __future__ import annotations

from pipeline_engine.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``pipeline-engine`` console script."""
    app()
