"""``BatchEngine``: the contract of the batch operations (``/v1/batches``), whatever runs them.

``workflows.batch_engine.TemporalBatchEngine`` implements it (a batch is a ``BatchWorkflow``). The
REST API depends on this protocol only.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline_engine._ids import canonical_json
from pipeline_engine.batches import (
    BatchPage,
    BatchPipelinePage,
    BatchRef,
    BatchResultLine,
    BatchStatus,
    RetriedBatch,
)
from pipeline_engine.errors import InvalidInput, Problem
from pipeline_engine.service.engine import TaskPriority
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.states import PipelineState

__all__ = [
    "DEFAULT_MAX_RUNNING",
    "MAX_INPUTS",
    "BatchEngine",
    "BatchFingerprint",
    "BatchRequest",
    "SubmittedBatch",
    "no_inputs",
    "too_many_inputs",
]

DEFAULT_MAX_RUNNING = 100
"""Pipelines of one batch running at once when the request does not say."""
MAX_INPUTS = 100_000
"""Most inputs one batch takes."""


def no_inputs() -> InvalidInput:
    """The refusal of a batch without inputs."""
    return InvalidInput(
        "a batch needs at least one input", problems=[Problem("$.inputs", "no inputs")]
    )


def too_many_inputs() -> InvalidInput:
    """The refusal of a batch of more than :data:`MAX_INPUTS` inputs."""
    return InvalidInput(
        f"a batch takes at most {MAX_INPUTS} inputs",
        problems=[Problem("$.inputs", f"more than {MAX_INPUTS} inputs: split the batch")],
    )


@dataclass(frozen=True)
class BatchRequest:
    """What a batch runs (its inputs come beside it).

    Attributes:
        tenant_id: The owning tenant.
        pipeline: The name of the tenant's pipeline it runs.
        config: That pipeline's config.
        settings: The tenant's settings (every step sees them).
        priority: The tenant's priority and fairness weight.
        max_running: At most this many of its pipelines run at once.
        idempotency_key: The same key gives the same batch (a conflict with other arguments).
    """

    tenant_id: str
    pipeline: str
    config: PreparedConfig
    settings: dict[str, Any] | None = None
    priority: TaskPriority | None = None
    max_running: int = DEFAULT_MAX_RUNNING
    idempotency_key: str | None = None


class BatchFingerprint:
    """SHA-256 of what a batch runs: config, settings, max_running, and every input in order.

    A repeated submission (same key, or same everything) must have the same fingerprint.
    """

    def __init__(self, request: BatchRequest) -> None:
        self._digest = hashlib.sha256(request.config.canonical.encode())
        self._digest.update(canonical_json([request.settings or {}, request.max_running]).encode())

    def add(self, value: Any) -> None:
        """Add the next input."""
        self._digest.update(b"\n" + canonical_json(value).encode())

    def hexdigest(self) -> str:
        """The fingerprint so far."""
        return self._digest.hexdigest()


@dataclass(frozen=True)
class SubmittedBatch:
    """The answer to a submission: the batch, and whether this call created it."""

    batch: BatchRef
    created: bool


class BatchEngine(Protocol):
    """Batch operations. Every method raises :mod:`pipeline_engine.errors` only."""

    async def submit_batch(
        self, request: BatchRequest, inputs: Iterable[Any] | AsyncIterator[Any]
    ) -> SubmittedBatch:
        """Store the inputs and start the batch; the same request (or key), the same batch.

        ``inputs`` may be a list (kept in memory by the caller) or an async iterator (a stream,
        written page by page and never held whole).
        """
        ...

    async def get_batch(self, batch_id: str) -> BatchStatus:
        """The batch's state and counts (``BatchNotFound`` when there is no such batch)."""
        ...

    async def list_batches(
        self, *, tenant_ids: list[str] | None, page_size: int = 50, next_page_token: str | None
    ) -> BatchPage:
        """Batches newest first; ``tenant_ids=None`` means all."""
        ...

    async def batch_pipelines(
        self,
        batch_id: str,
        *,
        tenant_id: str | None,
        state: PipelineState | None = None,
        page_size: int = 100,
        next_page_token: str | None = None,
    ) -> BatchPipelinePage:
        """A page of the batch's pipelines (input order without ``state``)."""
        ...

    async def cancel_batch(self, batch_id: str, reason: str, *, actor: str | None) -> BatchStatus:
        """No pipeline of the batch starts any more; the running ones are cancelled."""
        ...

    async def retry_failed(self, batch_id: str, reason: str, *, actor: str | None) -> RetriedBatch:
        """Retry every failed stage of every failed pipeline of the batch."""
        ...

    def batch_results(
        self, batch_id: str, *, tenant_id: str | None
    ) -> AsyncIterator[BatchResultLine]:
        """One line per input, in input order: its pipeline's state and result or error."""
        ...
