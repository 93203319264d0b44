"""``setup``: prepare a Temporal namespace for the engine (its search attributes).

``pipeline-engine dev`` needs none of it (its dev server starts with them); a cluster of your own
does, once per namespace. The worker and the API also add what is missing at start when the
cluster lets them, and say so in one line when it does not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipeline_engine.cli._failures import EXIT_AUTH, EXIT_UNAVAILABLE, CliFailure
from pipeline_engine.cli._output import console
from pipeline_engine.cli._stack import connect_temporal

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.common import SearchAttributeKey

    from pipeline_engine.settings import Settings

__all__ = ["COMMANDS", "check_search_attributes"]


def setup() -> None:
    """Register the search attributes the engine needs on the Temporal namespace.

    Uses PIPELINE_ENGINE_TEMPORAL_ADDRESS, PIPELINE_ENGINE_TEMPORAL_NAMESPACE and the TLS / API
    key settings. Safe to repeat: what exists already is left alone.
    """
    from pipeline_engine.settings import Settings

    asyncio.run(_setup(Settings()))


def _create_commands(client: Client, missing: Sequence[SearchAttributeKey[Any]]) -> str:
    from workflows.search_attributes import type_name

    return "; ".join(
        f"temporal operator search-attribute create --namespace {client.namespace} "
        f"--name {key.name} --type {type_name(key)}"
        for key in missing
    )


async def _setup(settings: Settings) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.connection import TemporalSecurity
    from workflows.names import SEARCH_ATTRIBUTES
    from workflows.search_attributes import (
        missing_search_attributes,
        register_search_attributes,
        type_name,
    )

    client = await connect_temporal(
        settings.temporal_address,
        settings.temporal_namespace,
        security=TemporalSecurity.from_settings(settings),
    )
    where = f"namespace {client.namespace!r} at {settings.temporal_address}"
    try:
        missing = await missing_search_attributes(client)
        await register_search_attributes(client, missing)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise CliFailure(
                f"not allowed to register search attributes on {where} ({exc.message}): ask its "
                f"operator to run: {_create_commands(client, SEARCH_ATTRIBUTES)}",
                exit_code=EXIT_AUTH,
            ) from None
        raise CliFailure(
            f"cannot register search attributes on {where}: {exc.message}",
            exit_code=EXIT_UNAVAILABLE,
        ) from None
    for key in SEARCH_ATTRIBUTES:
        done = "registered" if key in missing else "already there"
        console.print(f"  {key.name} ({type_name(key)}): {done}")
    console.print(f"{where} is ready for Pipeline Engine")


async def check_search_attributes(client: Client, settings: Settings, *, who: str) -> None:
    """At a worker's start: add the missing search attributes when allowed, else say in one
    line which are missing and how to add them (pipelines cannot start without them)."""
    from temporalio.service import RPCError

    from workflows.search_attributes import SETUP_HINT, describe, ensure_search_attributes

    log = logging.getLogger(f"pipeline_engine.{who}")
    try:
        missing = await ensure_search_attributes(
            client, register=settings.register_search_attributes
        )
    except RPCError as exc:
        log.warning("could not check the namespace's search attributes: %s", exc.message)
        return
    if missing:
        log.error(
            "Temporal namespace %r lacks the search attributes %s: no pipeline can start until "
            "they exist; %s",
            client.namespace,
            describe(missing),
            SETUP_HINT,
        )


#: (name, function) of every command of this module, in help order.
COMMANDS = (("setup", setup),)
