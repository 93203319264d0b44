"""What a step activity receives and returns: defined here, in the leaf layer, for the workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StepActivityInput", "StepActivityResult", "StepErrorDetails"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepActivityInput(_Message):
    """What a step activity receives."""

    pipeline_id: str
    tenant_id: str | None = None
    stage_id: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    previous: Any = None
    input: Any = None
    settings: dict[str, Any] = Field(default_factory=dict)
    trace_id: str = ""
    attempt_offset: int = 0


class StepActivityResult(_Message):
    """What a step activity returns."""

    result: Any = None
    attempt: int


class StepErrorDetails(_Message):
    """Details attached to a failed step attempt."""

    attempt: int
    type: str
