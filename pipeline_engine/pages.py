"""Pages of the pipeline list, the one home of these wire types (engine, REST API and SDK)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PipelinePage", "PipelineSummary", "PipelineWhere"]


class PipelineSummary(BaseModel):
    """One row of the pipeline list.

    Attributes:
        pipeline_id: The pipeline.
        name: The config's name.
        tenant_id: The owning tenant.
        state: The last recorded state (a :class:`~pipeline_engine.PipelineState` value).
        started_at: When it was created.
        closed_at: When its run ended, if it did.
        pipeline_version: The stored pipeline version it runs (its ``pipeline_ref.version``;
            ``None`` for a raw config).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    pipeline_id: str
    name: str | None = None
    tenant_id: str | None = None
    state: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    pipeline_version: int | None = None


class PipelinePage(BaseModel):
    """One page of the pipeline list, newest first.

    Attributes:
        items: The pipelines on this page.
        next_page_token: Pass it as ``page_token`` for the next page; ``None`` on the last one.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    items: list[PipelineSummary] = Field(default_factory=list)
    next_page_token: str | None = None


class PipelineWhere(BaseModel):
    """Filters of the pipeline list besides tenant and state.

    Attributes:
        name_prefix: Only pipelines whose name starts with this.
        started_after: Only pipelines created at or after this time.
        started_before: Only pipelines created before this time.
        batch_id: Only the pipelines of this batch.
        pipeline: Only runs of this stored pipeline (its ``pipeline_ref.name``; ``default`` is
            the tenant config's). Raw-config pipelines are never runs of a stored pipeline.
        version: Only runs of this version (its ``pipeline_ref.version``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name_prefix: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    batch_id: str | None = None
    pipeline: str | None = None
    version: int | None = Field(None, ge=1)
