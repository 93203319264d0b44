"""Follow a pipeline as it runs: long-poll its Temporal history.

A pipeline's events live in the workflow (query ``history``); they only change when a workflow task
completes, which Temporal records in the workflow's history. So instead of sleeping in a loop, the
engine long-polls ``GetWorkflowExecutionHistory`` with ``wait_new_event`` and reports a change each
time the history grows (``TemporalPipelineEngine.watch_changes``): latency is one round trip.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType as TemporalEventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryResponse,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.temporal_calls import TemporalCalls

__all__ = ["HistoryBatch", "QueueTimes", "history_batches"]

_POLL_TIMEOUT = timedelta(seconds=70)

_CHANGES = frozenset(
    {
        TemporalEventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


@dataclass(frozen=True)
class HistoryBatch:
    """New Temporal history events of a workflow.

    Attributes:
        events: The raw history events received (in order).
        closed: Whether the workflow has closed (no more batches follow).
    """

    events: list[HistoryEvent]
    closed: bool

    @property
    def changes_pipeline(self) -> bool:
        """Whether a workflow task completed (or the workflow closed) in this batch."""
        return self.closed or any(e.event_type in _CHANGES for e in self.events)


@dataclass
class QueueTimes:
    """Time each activity (= stage) waited in its task queue, from the Temporal history.

    Temporal records ``ActivityTaskStarted`` (of the last attempt) when the attempt ends, so a
    stage's queue time is known once it has finished an attempt.
    """

    _scheduled: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, events: list[HistoryEvent]) -> None:
        """Account for new history events."""
        for e in events:
            if e.event_type == TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = e.activity_task_scheduled_event_attributes
                self._scheduled[e.event_id] = (attrs.activity_id, e.event_time.ToDatetime())
            elif e.event_type == TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs2 = e.activity_task_started_event_attributes
                found = self._scheduled.get(attrs2.scheduled_event_id)
                if found is not None:
                    activity_id, scheduled = found
                    waited = (e.event_time.ToDatetime() - scheduled).total_seconds()
                    self.seconds[activity_id] = max(0.0, waited)


async def _poll(
    client: Client, request: GetWorkflowExecutionHistoryRequest
) -> GetWorkflowExecutionHistoryResponse | None:
    """One long poll of the history (``None``: it outlived its deadline empty; ask again)."""
    try:
        return await client.workflow_service.get_workflow_execution_history(
            request, retry=True, timeout=_POLL_TIMEOUT
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return None
        raise


async def history_batches(
    client: Client, workflow_id: str, calls: TemporalCalls
) -> AsyncGenerator[HistoryBatch, None]:
    """Yield the workflow's history as it grows, long-polling; ends once the workflow closed.

    The first batch is the history so far (page by page); later ones arrive as soon as Temporal
    records new events. A long poll that times out empty is retried silently. Every poll goes
    through ``calls`` (the engine's Temporal call wrapper), which translates its errors.

    Raises:
        PipelineNotFound: No such workflow.
        EngineUnavailable: Temporal cannot be reached.
    """
    token = b""
    while True:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            next_page_token=token,
            wait_new_event=True,
            skip_archival=True,
        )

        response = await calls(partial(_poll, client, request))
        if response is None:
            continue
        events = list(response.history.events)
        closed = not response.next_page_token
        if events or closed:
            yield HistoryBatch(events, closed)
        if closed:
            return
        token = response.next_page_token
