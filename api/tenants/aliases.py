"""Aliases (``live``…) and the version a run gets: by number, by alias (canary included), latest.

The canary share is chosen by a hash of (tenant, pipeline, alias, canonical input): the same input
always lands on the same side, so a repeat or a retry runs the version the first call ran.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from api.tenants.audit import record
from api.tenants.table import pipeline_alias
from api.tenants.versions import aliases_of, get_version, head_of, no_pipeline
from pipeline_engine._ids import canonical_json
from pipeline_engine.errors import Conflict, DefinitionNotFound, InvalidInput, NotFound, Problem
from pipeline_engine.versions import LIVE_ALIAS, PipelineAlias, StoredPipeline

__all__ = ["canary_bucket", "choose", "resolve", "set_alias"]

_BUCKETS = 10_000


def canary_bucket(tenant_id: str, name: str, alias: str, input: Any) -> float:
    """Where an input falls in [0, 100): below ``canary_percent`` it runs the canary."""
    text = "\0".join((tenant_id, name, alias, canonical_json(input)))
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (value % _BUCKETS) * 100 / _BUCKETS


def choose(found: PipelineAlias, tenant_id: str, name: str, input: Any) -> int:
    """The version this input runs under the alias."""
    if (
        found.canary_version is not None
        and found.canary_percent
        and canary_bucket(tenant_id, name, found.alias, input) < found.canary_percent
    ):
        return found.canary_version
    return found.version


def _check_exists(conn: Connection, tenant_id: str, name: str, version: int, path: str) -> None:
    try:
        get_version(conn, tenant_id, name, version)
    except NotFound:
        raise InvalidInput(
            f"pipeline {name!r} has no version {version}",
            problems=[Problem(path, f"no version {version} of pipeline {name!r}")],
        ) from None


def set_alias(
    conn: Connection,
    tenant_id: str,
    name: str,
    alias: str,
    *,
    version: int,
    canary_version: int | None,
    canary_percent: float | None,
    actor: str | None,
    at: datetime,
) -> PipelineAlias:
    """Point ``alias`` at ``version`` (and maybe a canary), recorded in the audit log.

    Raises:
        NotFound: No such pipeline.
        InvalidInput: A version that does not exist, or a canary half given.
    """
    head = head_of(conn, tenant_id, name, lock=True)
    if head is None:
        raise no_pipeline(tenant_id, name)
    if (canary_version is None) != (canary_percent is None):
        raise InvalidInput(
            "canary_version and canary_percent go together",
            problems=[
                Problem(
                    "$.canary_percent" if canary_percent is None else "$.canary_version",
                    "required with "
                    + ("canary_version" if canary_percent is None else "canary_percent"),
                )
            ],
        )
    _check_exists(conn, tenant_id, name, version, "$.version")
    if canary_version is not None:
        _check_exists(conn, tenant_id, name, canary_version, "$.canary_version")
    a = pipeline_alias
    key = (a.c.tenant_id == tenant_id, a.c.name == name, a.c.alias == alias)
    values = {
        "version": version,
        "canary_version": canary_version,
        "canary_percent": canary_percent,
        "updated_by": actor,
        "updated_at": at,
    }
    if conn.execute(sa.update(a).where(*key).values(**values)).rowcount == 0:
        conn.execute(sa.insert(a).values(tenant_id=tenant_id, name=name, alias=alias, **values))
    message = f"{alias} -> version {version}"
    if canary_version is not None:
        message += f", canary version {canary_version} at {canary_percent:g}%"
    record(
        conn,
        tenant_id,
        action="pipeline.alias_set",
        actor=actor,
        at=at,
        pipeline=name,
        version=version,
        message=message,
    )
    return PipelineAlias(
        alias=alias,
        version=version,
        canary_version=canary_version,
        canary_percent=canary_percent,
        updated_at=at,
        updated_by=actor,
    )


def resolve(
    conn: Connection,
    tenant_id: str,
    name: str,
    *,
    version: int | None,
    alias: str | None,
    input: Any,
) -> StoredPipeline | None:
    """The version a run of ``name`` gets: ``version``; else ``alias`` (canary by the input's
    hash); else the ``live`` alias when there is one; else the latest. ``None``: no such name.

    Raises:
        Conflict: The pipeline is archived.
        NotFound: No such version or alias.
    """
    head = head_of(conn, tenant_id, name)
    if head is None:
        return None
    if head.archived_at is not None:
        raise Conflict(f"pipeline {name!r} is archived and can no longer be run")
    if version is None:
        aliases = aliases_of(conn, tenant_id, name).get(name, {})
        wanted = alias or LIVE_ALIAS
        found = aliases.get(wanted)
        if found is None and alias is not None:
            raise DefinitionNotFound(
                f"pipeline {name!r} of tenant {tenant_id!r} has no alias {alias!r}"
            )
        version = (
            choose(found, tenant_id, name, input) if found is not None else head.latest_version
        )
    return get_version(conn, tenant_id, name, version)
