"""The pipeline list's filters from the query string (``GET /v1/pipelines`` and
``/v1/pipeline-counts`` share them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query

from api.schemas import PIPELINE_NAME
from pipeline_engine.pages import PipelineWhere
from pipeline_engine.versions import MAX_VERSION

__all__ = ["WhereDep", "pipeline_where"]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def pipeline_where(
    name: Annotated[
        str | None, Query(max_length=200, description="Only pipelines whose name starts with this.")
    ] = None,
    started_after: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601; UTC without a zone).")
    ] = None,
    started_before: Annotated[
        datetime | None, Query(description="Created before (ISO 8601; UTC without a zone).")
    ] = None,
    pipeline: Annotated[
        str | None,
        Query(
            pattern=PIPELINE_NAME,
            description="Only runs of this stored pipeline (`default`: the tenant config's; "
            "then give `tenant_id` unless the caller has one tenant).",
        ),
    ] = None,
    version: Annotated[
        int | None,
        Query(ge=1, le=MAX_VERSION, description="Only runs of this version (`pipeline_ref`)."),
    ] = None,
) -> PipelineWhere:
    """The list filters of the query string."""
    return PipelineWhere(
        name_prefix=name or None,
        started_after=_utc(started_after),
        started_before=_utc(started_before),
        pipeline=pipeline,
        version=version,
    )


WhereDep = Annotated[PipelineWhere, Depends(pipeline_where)]
