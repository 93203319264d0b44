"""The reads of a run: its status (with a page of its stages) and its event history."""

from __future__ import annotations

from datetime import datetime

from pipeline_engine._interpreter._records import Records
from pipeline_engine.events import Event
from pipeline_engine.states import PipelineState
from pipeline_engine.status import (
    ErrorInfo,
    PendingInput,
    PipelineStatus,
    StagePage,
    page_stages,
)

__all__ = ["Reads"]


class Reads:
    """Answers about a run's :class:`Records` (a part of :class:`PipelineRun`)."""

    _records: Records

    @property
    def state(self) -> PipelineState:
        """Current pipeline state."""
        return self._records.state

    def status(
        self, page: StagePage | None = None, *, whole_result: bool = False
    ) -> PipelineStatus:
        """The whole picture: state, a page of the stages (all without ``page``), pending inputs,
        result (left out when large, unless ``whole_result``), error."""
        r = self._records
        limit = r.identity.inline_bytes
        omit = not whole_result and limit is not None and r.result_bytes > limit
        deadlines = [p.deadline for p in r.parked.values() if p.deadline is not None]
        stages, counts, total = page_stages(r.stages.values(), page)
        return PipelineStatus(
            pipeline_id=r.identity.pipeline_id,
            name=r.identity.name,
            tenant_id=r.identity.tenant_id,
            state=r.state,
            stages=[s.model_copy() for s in stages],
            stage_counts=counts,
            stages_total=total,
            stages_offset=page.offset if page else 0,
            waiting_inputs=[
                PendingInput(
                    stage_id=w.plan.stage_id,
                    prompt=w.plan.prompt,
                    schema=w.plan.schema,
                    deadline=w.deadline,
                )
                for w in r.waiting.values()
                if not w.received
            ],
            result=None if omit else r.result,
            result_omitted=omit,
            error=r.error or self._held_error(),
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            retryable_until=min(deadlines) if deadlines else None,
            cancelled_by=r.cancelled_by,
            trace_id=r.identity.trace_id,
            pipeline_ref=r.identity.ref,
        )

    def _held_error(self) -> ErrorInfo | None:
        """While held in FAILED: the error of the first stage waiting for a retry."""
        r = self._records
        held = next(iter(r.parked), None)
        return r.stages[held].error if held is not None else None

    def history(
        self,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events in order; ``since``: at or after a time; ``after_id``: after an event id;
        ``limit``: at most this many (page on with the last id as ``after_id``)."""
        events = self._records.events
        if after_id is not None:
            events = events[max(after_id, 0) :]
        if since is not None:
            events = [e for e in events if e.timestamp >= since]
        return list(events if limit is None else events[:limit])

    def final_status(self, *, max_bytes: int) -> PipelineStatus:
        """The status to leave as the workflow's result: whole when its JSON fits ``max_bytes``,
        else without the stages (readers then page them with the ``status`` query)."""
        whole = self.status(whole_result=True)
        if len(whole.model_dump_json()) <= max_bytes:
            return whole
        return self.status(StagePage(limit=0), whole_result=True)
