"""Config schema versions: the JSON Schema of each, and the chain that upgrades older documents.

A stored document keeps the ``schema_version`` it was written in; reading it for a run passes it
through :func:`upgrade_config`, one upgrader per step (``"1"`` → ``"2"`` → …) up to
:data:`CURRENT_SCHEMA_VERSION`. Adding a version is: one function in :data:`UPGRADERS` (keyed by
the version it reads, returning the next version's document, with its own test), the new number
in :data:`CURRENT_SCHEMA_VERSION`, and the older version's schema frozen in :data:`SCHEMAS`
(the DSL models then describe the new one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline_engine.dsl import pipeline_config_schema
from pipeline_engine.errors import InvalidConfig, Problem

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "SCHEMAS",
    "UPGRADERS",
    "known_schema_versions",
    "schema_for",
    "upgrade_config",
]

CURRENT_SCHEMA_VERSION = "1"
"""The schema version the DSL models read (and every new document is written in)."""

Upgrader = Callable[[dict[str, Any]], dict[str, Any]]

UPGRADERS: dict[str, Upgrader] = {}
"""``{version: upgrader}``: each takes a document of ``version`` and returns it in the next one
(with ``schema_version`` set to the next). Empty while ``"1"`` is the only version."""

SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {CURRENT_SCHEMA_VERSION: pipeline_config_schema}
"""The JSON Schema of every version the engine reads (older ones frozen when a version is added)."""


def known_schema_versions() -> list[str]:
    """Every schema version the engine reads, oldest first."""
    return sorted(SCHEMAS, key=lambda v: (len(v), v))


def schema_for(version: str) -> dict[str, Any]:
    """The JSON Schema of ``version``.

    Raises:
        InvalidConfig: The engine does not know that version.
    """
    found = SCHEMAS.get(version)
    if found is None:
        raise _unknown(version, "$.version")
    return found()


def _unknown(version: Any, path: str) -> InvalidConfig:
    known = ", ".join(repr(v) for v in known_schema_versions())
    return InvalidConfig(
        f"unknown schema_version {version!r}",
        problems=[Problem(path, f"unknown schema version {version!r}; known: {known}")],
    )


def upgrade_config(document: dict[str, Any], *, path: str = "$") -> dict[str, Any]:
    """``document`` in :data:`CURRENT_SCHEMA_VERSION`, through every upgrader from its own version.

    The input is never modified (a document at the current version comes back as it is).

    Raises:
        InvalidConfig: Its ``schema_version`` is one the engine does not know.
    """
    version = document.get("schema_version", CURRENT_SCHEMA_VERSION)
    if version == CURRENT_SCHEMA_VERSION:
        return document
    if not isinstance(version, str) or version not in SCHEMAS:
        raise _unknown(version, f"{path}.schema_version")
    upgraded = copy.deepcopy(document)
    seen: set[str] = set()
    while version != CURRENT_SCHEMA_VERSION:
        step = UPGRADERS.get(version)
        if step is None or version in seen:  # a gap or a loop in the chain: a bug, said plainly
            raise RuntimeError(f"no upgrader from schema version {version!r}")
        seen.add(version)
        upgraded = step(upgraded)
        version = upgraded["schema_version"]
    return upgraded
