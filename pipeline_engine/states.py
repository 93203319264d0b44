"""Pipeline and stage states."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_STATES", "PipelineState", "StageState"]


class PipelineState(StrEnum):
    """Where a pipeline is in its life.

    ``FAILED`` means a stage failed for good; the pipeline stays retryable (``retry_stage``) until
    its ``failure_hold_s`` runs out.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING_INPUT = "WAITING_INPUT"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SUCCEEDED = "SUCCEEDED"

    @property
    def is_terminal(self) -> bool:
        """Whether no further progress is expected without an operator (FAILED) or ever."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {PipelineState.SUCCEEDED, PipelineState.CANCELLED, PipelineState.FAILED}
)


class StageState(StrEnum):
    """Where one stage of a pipeline is."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING_INPUT = "WAITING_INPUT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
