"""A pipeline's status from what Temporal recorded, for when no worker answers the status query.

The state comes from the ``PipelineState`` search attribute (kept by the workflow on every
transition), name and tenant from theirs, the running stages from the workflow's pending
activities (activity id = stage id); ``note`` says the picture is partial.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import ErrorInfo, PipelineStatus, StageStatus
from pipeline_engine.versions import PipelineVersionRef
from workflows import names

__all__ = ["recorded_status"]

_ENDED_AS = {
    WorkflowExecutionStatus.CANCELED: PipelineState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: PipelineState.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: PipelineState.FAILED,
}


def _state(desc: WorkflowExecutionDescription) -> PipelineState:
    if desc.status in _ENDED_AS:
        return _ENDED_AS[desc.status]
    recorded = desc.typed_search_attributes.get(names.SA_PIPELINE_STATE)
    try:
        return PipelineState(recorded or "")
    except ValueError:
        return PipelineState.RUNNING


def _stages(desc: WorkflowExecutionDescription) -> list[StageStatus]:
    stages = []
    for act in desc.raw_description.pending_activities:
        started = act.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        error = None
        if act.HasField("last_failure") and act.last_failure.message:
            error = ErrorInfo(
                type="Error", message=act.last_failure.message, stage_id=act.activity_id
            )
        stages.append(
            StageStatus(
                stage_id=act.activity_id,
                step=act.activity_type.name,
                state=StageState.RUNNING if started else StageState.PENDING,
                attempts=act.attempt,
                error=error,
                scheduled_at=act.scheduled_time.ToDatetime(tzinfo=desc.start_time.tzinfo)
                if act.HasField("scheduled_time") and desc.start_time
                else None,
            )
        )
    return stages


def recorded_status(
    desc: WorkflowExecutionDescription, *, why: str, ref: PipelineVersionRef | None = None
) -> PipelineStatus:
    """The status Temporal's records give for the described pipeline workflow.

    Args:
        desc: The workflow's description.
        why: Why the live status is not available (goes into ``note``).
        ref: Its origin, read from its memo (:func:`recorded_ref`).
    """
    attrs = desc.typed_search_attributes
    return PipelineStatus(
        pipeline_id=desc.id,
        name=attrs.get(names.SA_PIPELINE_NAME) or "",
        tenant_id=attrs.get(names.SA_TENANT_ID),
        state=_state(desc),
        stages=_stages(desc),
        created_at=desc.start_time,
        finished_at=desc.close_time,
        note=f"{why}: the state and the running stages are what Temporal recorded",
        pipeline_ref=ref,
    )


async def recorded_ref(desc: WorkflowExecutionDescription) -> PipelineVersionRef | None:
    """The run's origin as its memo keeps it (``None``: a raw config, or an older run)."""
    raw = await desc.memo_value(names.MEMO_PIPELINE_REF, default=None)
    try:
        return PipelineVersionRef.model_validate(raw) if raw is not None else None
    except ValidationError:
        return None
