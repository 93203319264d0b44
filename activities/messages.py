"""What a step activity receives and returns: defined here, in the leaf layer, for the workflow."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

__all__ = ["SHARD_ID_SEPARATOR", "StepActivityInput", "StepActivityResult", "StepErrorDetails"]

SHARD_ID_SEPARATOR = "~"
"""A shard's workflow id is its pipeline's id, this, and its first stage and size."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepActivityInput(_Message):
    """What a step activity receives."""

    pipeline_id: str = ""
    """Empty: the activity's workflow id (a shard's id begins with its pipeline's)."""
    tenant_id: str | None = None
    stage_id: str = ""
    """Empty: the activity's id, which is the stage id."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    previous: Any = None
    input: Any = None
    settings: dict[str, Any] = Field(default_factory=dict)
    trace_id: str = ""
    attempt_offset: int = 0
    parts: list[Literal["input", "settings", "previous"]] = Field(default_factory=list)
    """These fields come as the activity's next arguments, in this order, each a payload of its
    own (a large one is then stored once, not once per activity)."""

    @model_serializer(mode="wrap")
    def _without_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Every activity's input is written into the history: leave out what the receiver
        # restores anyway (about 95 bytes of 400 per scheduled activity).
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in _REQUIRED or v != _DEFAULTS[k]}

    def with_ids(self, workflow_id: str, activity_id: str) -> StepActivityInput:
        """This input with the ids it left out (they are the activity's own) filled in."""
        if self.pipeline_id and self.stage_id:
            return self
        return self.model_copy(
            update={
                "pipeline_id": self.pipeline_id or workflow_id.split(SHARD_ID_SEPARATOR, 1)[0],
                "stage_id": self.stage_id or activity_id,
            }
        )

    def with_parts(self, *values: Any) -> StepActivityInput:
        """This input with the fields named in ``parts`` taken from ``values``."""
        if not self.parts:
            return self
        return self.model_copy(update=dict(zip(self.parts, values, strict=False)) | {"parts": []})


_DEFAULTS = {
    name: field.get_default(call_default_factory=True)
    for name, field in StepActivityInput.model_fields.items()
}
_REQUIRED = {name for name, field in StepActivityInput.model_fields.items() if field.is_required()}


class StepActivityResult(_Message):
    """What a step activity returns."""

    result: Any = None
    attempt: int


class StepErrorDetails(_Message):
    """Details attached to a failed step attempt."""

    attempt: int
    type: str
