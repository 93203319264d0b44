"""Batches of pipelines: the wire types of ``/v1/batches`` (engine, REST API and SDK share them).

A batch runs one pipeline per input, at most ``max_running`` at once; its state follows its
pipelines': RUNNING until every pipeline ended or is held FAILED, then FAILED if
any failed, CANCELLED if the batch (or any of its pipelines) was cancelled, else SUCCEEDED.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline_engine.states import PipelineState

__all__ = [
    "ACTIVE_STATES",
    "BatchPage",
    "BatchPipeline",
    "BatchPipelinePage",
    "BatchRef",
    "BatchResultLine",
    "BatchStatus",
    "BatchSummary",
    "RetriedBatch",
    "batch_state",
]

ACTIVE_STATES = frozenset(
    {PipelineState.PENDING, PipelineState.RUNNING, PipelineState.WAITING_INPUT}
)
"""States of a pipeline that has not ended (nor is held FAILED): the batch is still RUNNING."""


def batch_state(counts: Mapping[str, int], *, cancelled: bool) -> PipelineState:
    """The state of a batch from its pipelines' counts (not yet started ones count as PENDING).

    Args:
        counts: How many of its pipelines are in each state (``PipelineState`` values).
        cancelled: Whether the batch was cancelled.
    """
    if any(counts.get(s.value, 0) for s in ACTIVE_STATES):
        return PipelineState.RUNNING
    if cancelled:
        return PipelineState.CANCELLED
    if counts.get(PipelineState.FAILED.value, 0):
        return PipelineState.FAILED
    if counts.get(PipelineState.CANCELLED.value, 0):
        return PipelineState.CANCELLED
    return PipelineState.SUCCEEDED


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class BatchRef(_Wire):
    """The answer to a batch submission.

    Attributes:
        batch_id: The batch (also its Temporal workflow id).
        total: How many inputs, hence pipelines, it has.
        state: Its state (a :class:`~pipeline_engine.PipelineState` value).
    """

    batch_id: str
    total: int
    state: str


class BatchSummary(_Wire):
    """One row of the batch list.

    Attributes:
        batch_id: The batch.
        tenant_id: The owning tenant.
        pipeline: The name of the pipeline it runs.
        state: The state the batch last recorded.
        total: How many pipelines it has.
        started_at: When it was submitted.
        finished_at: When it finished, if it did.
    """

    batch_id: str
    tenant_id: str | None = None
    pipeline: str | None = None
    state: str | None = None
    total: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BatchStatus(_Wire):
    """The whole picture of a batch.

    Attributes:
        batch_id: The batch.
        tenant_id: The owning tenant.
        pipeline: The name of the pipeline it runs.
        state: RUNNING, SUCCEEDED, FAILED or CANCELLED (see the module docstring).
        total: How many pipelines it has.
        counts: How many are in each state; those not started yet count as PENDING (as
            CANCELLED once the batch is cancelled): the counts add up to ``total``.
        max_running: At most this many of its pipelines run at once.
        started_at: When it was submitted.
        finished_at: When its last pipeline ended (``None`` while RUNNING).
        cancel_reason: Why it was cancelled, if it was.
    """

    batch_id: str
    tenant_id: str | None = None
    pipeline: str | None = None
    state: str
    total: int
    counts: dict[str, int] = Field(default_factory=dict)
    max_running: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_reason: str | None = None


class BatchPage(_Wire):
    """One page of the batch list, newest first.

    Attributes:
        items: The batches on this page.
        next_page_token: Pass it as ``page_token`` for the next page; ``None`` on the last one.
    """

    items: list[BatchSummary] = Field(default_factory=list)
    next_page_token: str | None = None


class BatchPipeline(_Wire):
    """One pipeline of a batch.

    Attributes:
        index: Its input's position in the batch (from 0).
        pipeline_id: The pipeline (derived from the batch id and the index).
        state: Its state (PENDING while not started yet).
    """

    index: int
    pipeline_id: str
    state: str


class BatchPipelinePage(_Wire):
    """One page of a batch's pipelines, in input order.

    Attributes:
        items: The pipelines on this page.
        next_page_token: Pass it as ``page_token`` for the next page; ``None`` on the last one.
    """

    items: list[BatchPipeline] = Field(default_factory=list)
    next_page_token: str | None = None


class RetriedBatch(_Wire):
    """The answer to a batch's retry-failed.

    Attributes:
        retried_pipelines: How many failed pipelines were retried.
        retried_stages: How many failed stages they retried in all.
    """

    retried_pipelines: int
    retried_stages: int


class BatchResultLine(_Wire):
    """One line of a batch's results (NDJSON, in input order).

    Attributes:
        index: The input's position.
        pipeline_id: Its pipeline.
        state: The pipeline's state.
        result: Its result, when it SUCCEEDED.
        error: Its error (``{type, message, ...}``), when it FAILED or was CANCELLED.
    """

    index: int
    pipeline_id: str
    state: str
    result: Any = None
    error: dict[str, Any] | None = None
