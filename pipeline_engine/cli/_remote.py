"""What every command that talks to the REST API shares: ``--url``, ``--token``, ``--json`` and
``--reason``, a JSON argument's parsing, and the SDK client they open (:class:`PipelineClient`,
imported when a command runs so that ``--help`` stays quick)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from pipeline_engine.cli._failures import EXIT_INVALID, CliFailure

if TYPE_CHECKING:
    from pipeline_engine.client import PipelineClient

__all__ = ["JsonOption", "ReasonOption", "TokenOption", "UrlOption", "json_arg", "remote_client"]

UrlOption = typer.Option(None, "--url", envvar="PIPELINE_ENGINE_URL", help="API base URL.")
TokenOption = typer.Option(
    None, "--token", envvar="PIPELINE_ENGINE_TOKEN", help="Bearer token.", show_default=False
)
JsonOption = typer.Option(False, "--json", help="Print JSON (for scripts).")
ReasonOption = typer.Option("", "--reason", help="Why (recorded in the events).")


@contextmanager
def remote_client(url: str | None, token: str | None) -> Iterator[PipelineClient]:
    """The SDK's client of the API at ``url`` (default ``PIPELINE_ENGINE_URL``), closed after."""
    from pipeline_engine.client import PipelineClient

    with PipelineClient(url, token=token) as client:
        yield client


def json_arg(text: str | None, what: str) -> Any:
    """``text`` parsed as JSON (``None`` stays ``None``); invalid JSON exits 2 naming ``what``."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliFailure(f"{what} is not valid JSON: {exc}", exit_code=EXIT_INVALID) from None
